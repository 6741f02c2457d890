"""Atomic file writes: every file of a report or none, never a half-written one."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


STALE_PART_SECONDS = 600


def remove_stale_parts(folder: Path) -> int:
    """Temporary files a killed render left behind (older than any render takes)."""
    removed = 0
    if not folder.is_dir():
        return 0
    for part in folder.glob(".*.part"):
        try:
            if time.time() - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def write_atomically(contents: Mapping[Path, bytes]) -> None:
    """Write every file or none: temporary files in the target folder, fsync, then os.replace.

    A failure before the replacements leaves the previous files untouched and no temporary file
    behind.
    """
    for folder in {p.parent for p in contents}:
        remove_stale_parts(folder)
    temps: dict[Path, Path] = {}
    try:
        for path, data in contents.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            temps[path] = Path(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    for folder in {p.parent for p in contents}:
        _fsync_dir(folder)


ARCHIVE_DIR = "archive"


def archive_contents(paths: list[Path], archive: Path, as_of: datetime | None) -> dict[Path, bytes]:
    """The current files at ``paths``, as copies to write into ``archive`` before they are
    replaced (in the same all-or-none batch): '<name>_asof<UTC moment>.<ext>', the moment being
    the as-of moment of the report they hold (else the file's own time). A copy already archived
    with the same bytes is not written again; another with the same name gets '-2', '-3'…"""
    out: dict[Path, bytes] = {}
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        moment = as_of or datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        base = f"{path.stem}_asof{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        for k in range(1, 1000):
            target = archive / f"{base}{'' if k == 1 else f'-{k}'}{path.suffix}"
            if not target.exists() and target not in out:
                out[target] = data
                break
            if target.is_file() and target.read_bytes() == data:
                break
    return out
