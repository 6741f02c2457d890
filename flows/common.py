"""What every flow and command needs first: the plan catalog and a migrated, synced warehouse.

Also the parse step as ingest's worker processes run it: a worker imports the module of the
function it runs, and this one stays light (no Prefect, no SQLAlchemy at import): with the parser
it costs ≈ 0.4 s to import, ``flows.ingest`` ≈ 1.5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthplan.definitions import Catalog, load_catalog
from healthplan.settings import REPO_ROOT, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from transforms.parsing import ParsedFile, UnreadableFile


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
    except Exception as e:  # noqa: BLE001 - one odd file must not stop the others
        return UnreadableFile(name, f"解析出错 / parse error: {type(e).__name__}: {str(e)[:300]}")


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


def start_parse_worker(layouts: Any, info: Any, main_pid: int | None = None) -> None:
    """Pool initializer: the layouts and catalog knowledge, shipped once per worker process; and
    the worker ends when the main process does."""
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = (layouts, info)
    if main_pid is not None:
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
