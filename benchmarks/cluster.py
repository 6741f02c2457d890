"""A real ``distributed`` cluster on loopback, as separate processes: ``dask scheduler`` and
``dask worker`` × N, each worker one process with one thread.

Used by the cluster integration test and by the benchmark's cluster part. Every worker gets the
environment it is given (the Prefect API URL and the HEALTHPLAN_* settings): a Prefect task run
on a worker otherwise starts a temporary API server of its own and reads the default warehouse.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ClusterError(RuntimeError):
    """The scheduler or a worker did not come up in time; the message carries its log."""


@dataclass
class Cluster:
    """A running cluster: its scheduler's address and its processes (scheduler first)."""

    address: str
    scheduler_file: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.processes[1:]]


def dask_command() -> list[str]:
    """The ``dask`` command of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dask"))]


def worker_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (its HEALTHPLAN_* and PREFECT_* settings included), the
    Prefect API URL it uses now, and the repository importable, plus ``extra``."""
    env = dict(os.environ)
    try:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        if url:
            env["PREFECT_API_URL"] = url
    except ImportError:  # pragma: no cover - prefect is a dependency
        pass
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _wait_for_file(path: Path, proc: subprocess.Popen, log: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"dask scheduler exited ({proc.returncode}):\n{_tail(log)}")
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.2)
    raise ClusterError(f"dask scheduler not up after {timeout:.0f}s:\n{_tail(log)}")


def _wait_for_workers(address: str, n: int, cluster: Cluster, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        try:
            client.wait_for_workers(n, timeout=timeout)
        except TimeoutError:
            logs = "\n".join(_tail(p) for p in cluster.logs[1:])
            raise ClusterError(f"{n} dask workers not up after {timeout:.0f}s:\n{logs}") from None


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


@contextmanager
def process_cluster(
    folder: Path, workers: int, env: Mapping[str, str], *, timeout: float = 120.0
) -> Iterator[Cluster]:
    """Start a scheduler and ``workers`` worker processes on 127.0.0.1 (no dashboard); stop them
    all when the block ends, whatever happens in it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    cluster = Cluster(address="", scheduler_file=scheduler_file)
    try:
        log = folder / "scheduler.log"
        cluster.logs.append(log)
        cluster.processes.append(_start(
            [*dask_command(), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)], env, log,
        ))  # fmt: skip
        info = _wait_for_file(scheduler_file, cluster.processes[0], log, timeout)
        cluster.address = info["address"]
        for i in range(workers):
            log = folder / f"worker-{i}.log"
            cluster.logs.append(log)
            cluster.processes.append(_start(
                [*dask_command(), "worker", "--scheduler-file", str(scheduler_file),
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                 "--name", f"healthplan-{i}", "--no-nanny"], env, log,
            ))  # fmt: skip
        _wait_for_workers(cluster.address, workers, cluster, timeout)
        yield cluster
    finally:
        stop(cluster)


def _start(cmd: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, env=dict(env), cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(cluster: Cluster, grace: float = 10.0) -> None:
    """Workers first, then the scheduler: SIGTERM, then SIGKILL after ``grace`` seconds."""
    procs = [*cluster.processes[1:], *cluster.processes[:1]]
    for p in procs:
        if p.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
