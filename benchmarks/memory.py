"""Peak memory of a process tree, sampled: every worker counts, shared pages once (PSS)."""

from __future__ import annotations

from contextlib import suppress


class TreeMemory:
    """Peak memory of a process and all its descendants together, sampled every 50 ms: a phase
    that parses or renders in worker processes counts every worker, not just the largest one
    (which is all ``wait4`` reports). Each process counts its proportional set size (PSS): the
    pages workers share with the forkserver they forked from count once, not once per worker
    as summed resident sizes would (resident size where PSS cannot be read)."""

    def __init__(self, pid: int, interval: float = 0.05):
        import threading

        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid, interval), daemon=True)
        self._thread.start()

    def _sample(self, pid: int, interval: float) -> None:
        import psutil

        try:
            root = psutil.Process(pid)
        except psutil.Error:
            return
        while not self._done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            for p in procs:
                with suppress(psutil.Error):
                    total += _proportional_size(p)
            self.peak = max(self.peak, total / 2**20)
            self._done.wait(interval)

    def stop(self) -> float:
        self._done.set()
        self._thread.join(timeout=2)
        return self.peak


def _proportional_size(process) -> int:
    """A process's proportional set size from /proc/PID/smaps_rollup, else its resident size."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss
