"""What every flow and command needs first: the plan catalog and a migrated, synced warehouse.

Also the parse step as ingest's worker processes run it: a worker imports the module of the
function it runs, and this one stays light (no Prefect, no SQLAlchemy at import): with the parser
it costs ≈ 0.4 s to import, ``flows.ingest`` ≈ 1.5 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthplan.definitions import Catalog, load_catalog
from healthplan.settings import REPO_ROOT, get_settings, mask_secrets_in_logs

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from transforms.parsing import ParsedFile, UnreadableFile


mask_secrets_in_logs()  # Prefect's logs (console and server) and ours: no URL secret in them


@lru_cache
def catalog() -> Catalog:
    return load_catalog(get_settings().plans_dir)


def definition_rows(cat: Catalog) -> dict[str, list[dict]]:
    """The catalog flattened into the warehouse's reference-table rows."""
    now = datetime.now(UTC)
    checksum = cat.checksum()
    areas = [
        {
            "code": a.code,
            "name_zh": a.name_zh,
            "name_en": a.name_en,
            "level": a.level,
            "parent_code": a.parent,
        }
        for a in _parents_first(cat)
    ]
    elements = [
        {
            "code": e.code,
            "name_zh": e.name_zh,
            "name_en": e.name_en,
            "unit": e.unit,
            "source": e.source,
            "kind": e.kind,
        }
        for e in cat.elements.values()
    ]
    plans, indicators = [], []
    for p in cat.plans.values():
        plans.append(
            {
                "id": p.id,
                "title_zh": p.title_zh,
                "title_en": p.title_en,
                "jurisdiction": p.jurisdiction,
                "baseline_year": p.baseline_year,
                "target_year": p.target_year,
                "mid_term_year": p.mid_term_year,
                "definition_checksum": checksum,
                "loaded_at": now,
            }
        )
        for i in p.indicators:
            indicators.append(
                {
                    "plan_id": p.id,
                    "number": i.number,
                    "category_zh": i.category_zh,
                    "name_zh": i.name_zh,
                    "name_en": i.name_en,
                    "unit": i.unit,
                    "direction": i.direction,
                    "attribute": i.attribute,
                    "level": i.level,
                    "definition": json.dumps(i.model_dump(mode="json"), ensure_ascii=False),
                }
            )
    return {"areas": areas, "elements": elements, "plans": plans, "indicators": indicators}


def _parents_first(cat: Catalog):
    seen: dict[str, object] = {}
    for s in cat.area_sets.values():
        for a in s.areas:
            seen.setdefault(a.code, a)
    return sorted(seen.values(), key=lambda a: (a.parent is not None, len(a.code), a.code))


@lru_cache
def warehouse() -> Engine:
    """The configured warehouse, migrated to the newest schema and holding the current plans."""
    from warehouse.definitions import sync_definitions
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(get_settings().effective_database_url)
    upgrade(engine)
    sync_definitions(engine, **definition_rows(catalog()))
    return engine


@lru_cache
def code_version() -> str:
    """The git commit the code runs from (plus '+dirty' for local changes), for report appendices."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if rev.returncode == 0 and rev.stdout.strip():
            return rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import version

    return f"healthplan {version('healthplan')}"


# ------------------------------------------------------------------------- parsing, any process


def parsed_or_unreadable(
    name: str, data: bytes, layouts: Any, info: Any, current_year: int | None = None
) -> ParsedFile | UnreadableFile:
    """Parse one file; an unreadable file comes back as the error, not raised, so one odd file
    never stops the others."""
    from transforms.parsing import UnreadableFile, parse_file

    try:
        return parse_file(name, data, layouts, info, current_year=current_year)
    except UnreadableFile as e:
        return e
    except MemoryError:
        return UnreadableFile(name, over_memory_reason(_WORKER_MEMORY))
    except Exception as e:  # noqa: BLE001 - one odd file must not stop the others
        return UnreadableFile(name, f"解析出错 / parse error: {type(e).__name__}: {str(e)[:300]}")


def memory_mb() -> int:
    """A parse process's memory limit, as this (the parent) process's settings say: a worker
    forks from the forkserver, whose environment is that of its start."""
    return get_settings().parse_memory_mb


def over_memory_reason(limit: int | None = None) -> str:
    """Why a file whose parse ran out of its worker's memory was not loaded."""
    limit = memory_mb() if limit is None else limit
    return (
        f"解析所需内存超过上限 {limit} MB（HEALTHPLAN_PARSE_MEMORY_MB），文件未入库；若文件确实"
        f"这么大，请调高上限 / the parse needed more than the {limit} MB a parse may use "
        "(HEALTHPLAN_PARSE_MEMORY_MB): nothing of the file stored; raise the limit if the file "
        "really is that large"
    )


PARSE_DIED = "解析进程异常终止"  # how every crashed parse's reason begins


def parse_died(reason: str) -> bool:
    """Whether an unreadable file's reason is that its guarded parse process died: such a file
    is never read again in the process that saves it (it would die there too)."""
    return reason.startswith(PARSE_DIED)


def crashed_parse_reason(exitcode: int | None) -> str:
    """Why a file whose parse process died (a native abort, SIGKILL, out of memory) was not
    loaded: the file's failure, never the run's."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode).name
        except ValueError:
            sig = f"signal {-exitcode}"
        zh, en = f"信号 {sig}，退出码 {128 - exitcode}", f"{sig}, exit {128 - exitcode}"
    else:
        zh, en = f"退出码 {exitcode}", f"exit {exitcode}"
    limit = memory_mb()
    return (
        f"{PARSE_DIED}（{zh}）：读取器无法处理此文件（例如工作表远处的一个单元格把表格撑到"
        f"超出内存上限 {limit} MB），文件未入库，其他文件照常导入 / the parse process died "
        f"({en}): the reader cannot handle this file (e.g. one cell far out stretches the "
        f"sheet beyond the {limit} MB memory limit); nothing of it stored, the other files load"
    )


MIN_PARSE_MEMORY_MB = 512  # a parse process takes ≈ 270 MB of address space before it reads


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (a parse worker's): an allocation past it fails here,
    as a MemoryError or a native abort of this process alone. Never below MIN_PARSE_MEMORY_MB:
    a process capped below what it already holds can hang in its allocator instead of failing."""
    import resource

    if megabytes <= 0:
        return
    cap = max(megabytes, MIN_PARSE_MEMORY_MB) * 2**20
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def quiet_native_errors() -> None:
    """Send this worker's native error output (a reader's abort and its backtrace) nowhere: the
    crash reaches the user as the file's message, not as a native traceback on the terminal.
    Python errors of a parse come back as messages anyway."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this worker when its parent process ends (Linux prctl
    PR_SET_PDEATHSIG), and end now if the parent is already gone: a worker must never outlive
    the run that started it (and e.g. publish reports after a new run took the lock)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent-pid check below still runs
        pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def parse_process_context():
    """Where parse processes come from: forkserver (spawn where there is none), never fork:
    Prefect and the warehouse run threads in this process. The forkserver imports the parser
    once; each parse process forks from it with it loaded."""
    import multiprocessing

    try:
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(["flows.common", "transforms.parsing"])
    except ValueError:
        mp = multiprocessing.get_context("spawn")
    return mp


def parse_alone(
    name: str,
    path: str,
    checksum: str,
    layouts: Any,
    info: Any,
    current_year: int | None,
) -> ParsedFile | tuple[str, str]:
    """``parsed_in_worker`` in a process of its own, started for this one file and guarded like
    the pool's workers (memory limit, ends with this process): a parse that crashes or is
    killed comes back as (file, reason), never as the end of this process. A file is never
    parsed unguarded in the process that saves it."""
    mp = parse_process_context()
    receive, send = mp.Pipe(duplex=False)
    proc = mp.Process(
        target=_parse_and_send,
        args=(send, name, path, checksum, current_year, layouts, info, os.getpid(), memory_mb()),
        daemon=True,
    )
    try:
        proc.start()
    except Exception as e:  # noqa: BLE001 - the file's failure, not the run's
        receive.close()
        send.close()
        return (name, f"无法启动解析进程 / cannot start a parse process: {type(e).__name__}: {e}")
    send.close()
    try:
        result = receive.recv()
    except (EOFError, OSError):
        result = None
    except Exception as e:  # noqa: BLE001 - a result that does not unpickle
        result = (name, f"解析结果无法传回 / the parse result could not be read: {e}")
    finally:
        receive.close()
    proc.join()
    return (name, crashed_parse_reason(proc.exitcode)) if result is None else result


def _parse_and_send(
    send: Any,
    name: str,
    path: str,
    checksum: str,
    current_year: int | None,
    layouts: Any,
    info: Any,
    main_pid: int,
    memory: int,
) -> None:
    start_parse_worker(layouts, info, main_pid, memory)
    try:
        out: Any = parsed_in_worker(name, path, checksum, current_year)
    except MemoryError:
        out = (name, over_memory_reason(memory))
    try:
        send.send(out)
    except MemoryError:
        send.send((name, over_memory_reason(memory)))
    except Exception as e:  # noqa: BLE001 - e.g. a result that does not pickle
        send.send((name, f"解析出错 / parse error: {type(e).__name__}: {str(e)[:300]}"))
    send.close()


def unguarded_script_hint() -> str:
    """What to check when a worker process died as it started, if this process runs a script file:
    each worker runs that script again on start, so a top-level call of a flow runs in every
    worker unless it sits under ``if __name__ == "__main__":`` (Python's rule for process pools)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not script:
        return ""
    name = Path(script).name
    return (
        f'；若由脚本 {name} 直接调用，请把调用放在 `if __name__ == "__main__":` 之下 / if the '
        f"script {name} calls the flows at its top level, put the call under "
        '`if __name__ == "__main__":`'
    )


_WORKER_CONTEXT: tuple[Any, Any] | None = None
_WORKER_MEMORY: int | None = None  # this worker's memory limit, MB


def start_parse_worker(
    layouts: Any, info: Any, main_pid: int | None = None, memory_mb: int | None = None
) -> None:
    """Pool initializer: the layouts and catalog knowledge, shipped once per worker process; the
    worker's memory capped (HEALTHPLAN_PARSE_MEMORY_MB), and it ends when the main process does
    (its parent is the forkserver, which ends with the main process: both are watched)."""
    global _WORKER_CONTEXT, _WORKER_MEMORY
    _WORKER_CONTEXT = (layouts, info)
    if main_pid is not None:
        _WORKER_MEMORY = get_settings().parse_memory_mb if memory_mb is None else memory_mb
        die_with_parent(None)
        limit_memory(_WORKER_MEMORY)
        quiet_native_errors()
        import threading

        threading.Thread(target=_exit_after, args=(main_pid,), daemon=True).start()


def _exit_after(pid: int) -> None:
    """End this worker once process ``pid`` is gone. A killed main process (SIGKILL, out of
    memory) leaves its workers waiting for work forever: each holds the write end of the queue
    it reads, and keeps the forkserver alive."""
    import os
    import select
    import time

    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable when the process ends
    except (AttributeError, OSError):
        while True:
            time.sleep(2)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except OSError:
                pass
    select.select([fd], [], [])
    os._exit(0)


FILE_CHANGED = (
    "文件在导入过程中被改动（内容与读取时的校验和不符），请重新导入 / the file changed while it "
    "was being ingested (its content no longer has the checksum it was read with): ingest it again"
)


def bytes_as_read(path: Path | str, checksum: str) -> bytes | str:
    """The file's bytes if they still have ``checksum``, else why not (a message): a file read
    twice must be the file whose checksum is recorded."""
    import hashlib

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return f"无法读取文件 / cannot read the file: {e.strerror or e}"
    if hashlib.sha256(data).hexdigest() != checksum:
        return FILE_CHANGED
    return data


def parsed_in_worker(
    name: str, path: str, checksum: str, current_year: int | None
) -> ParsedFile | tuple[str, str]:
    """``parsed_or_unreadable`` in a worker process, which reads the file itself (as long as it
    still has ``checksum``); an unreadable file comes back as (file, reason), because
    UnreadableFile cannot be unpickled (its arguments are not its args)."""
    if _WORKER_CONTEXT is None:
        raise RuntimeError("start_parse_worker was not run in this process")
    data = bytes_as_read(path, checksum)
    if isinstance(data, str):
        return (name, data)
    parsed = parsed_or_unreadable(name, data, *_WORKER_CONTEXT, current_year)
    if isinstance(parsed, Exception):
        return (parsed.file, parsed.reason)
    return parsed
