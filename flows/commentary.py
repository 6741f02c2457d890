"""The bureau's commentary files: where they are, reading them, and `healthplan commentary init`.

A file per plan, stage and data year, ``<plans dir>/<plan>/commentary/<stage>-<year>.md`` (format
in ``transforms/commentary.py``). The report reads it on every render, so the nightly re-render
keeps the bureau's words; nothing here ever writes over an existing file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from healthplan.settings import console as make_console
from healthplan.settings import get_settings

COMMENTARY_DIR = "commentary"


def commentary_path(plan_id: str, stage: str, data_year: int) -> Path:
    return Path(get_settings().plans_dir) / plan_id / COMMENTARY_DIR / f"{stage}-{data_year}.md"


def read_commentary(plan_id: str, stage: str, data_year: int) -> tuple[Path, str | None]:
    """The file's path and text (None when there is no file). A file that is not UTF-8 is an
    error naming the file and the byte where decoding failed."""
    path = commentary_path(plan_id, stage, data_year)
    if not path.is_file():
        return path, None
    raw = path.read_bytes()
    try:
        return path, raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"评述文件不是 UTF-8 编码 commentary file is not UTF-8: {path}（第{e.start + 1}字节）"
        ) from None


def commentary_checksum(plan_ids: list[str]) -> str:
    """A hash of every commentary file of these plans, so that an edited file re-renders."""
    h = hashlib.sha256()
    base = Path(get_settings().plans_dir)
    for plan_id in sorted(plan_ids):
        for path in sorted((base / plan_id / COMMENTARY_DIR).glob("*.md")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def init_command(plan_id: str, stage: str, data_year: int | None) -> int:
    """`healthplan commentary init`: write the skeleton (0), or refuse to overwrite a file (1)."""
    from flows.common import catalog
    from flows.evaluate import assess
    from healthplan.definitions import DefinitionError
    from transforms.assessment import STAGES
    from transforms.commentary import skeleton
    from transforms.report_format import GOOD
    from warehouse.engine import WarehouseUnavailable

    out, err = make_console(), make_console(stderr=True)
    try:
        if stage not in STAGES:
            raise ValueError(f"未知评估阶段 unknown stage {stage!r}（mid 或 end）")
        plan = catalog().plan(plan_id)
        a = assess(plan_id, stage, data_year, None)
    except WarehouseUnavailable as e:
        err.print(f"[red]数据仓库不可用 warehouse unavailable:[/] {e}")
        return 1
    except (DefinitionError, ValueError, KeyError) as e:
        err.print(f"[red]评述文件未生成 commentary not written:[/] {str(e).strip(chr(39))}")
        return 1
    path = commentary_path(plan_id, stage, a.data_year)
    if path.exists():
        err.print(
            f"[red]评述文件已存在，未覆盖 / the commentary file exists, not overwritten:[/] {path}"
        )
        return 1
    statuses = {r["number"]: r["status"] for r in a.root_rows()}
    entries = [
        (i.number, i.name_zh, statuses.get(i.number, "数据缺失"))
        for i in plan.indicators
        if statuses.get(i.number) not in GOOD
    ]
    title = f"{plan.title_zh}{STAGES[stage]}报告 评述（{a.data_year}年数据）"
    text = skeleton(title, entries)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": never over a file made meanwhile
            f.write(text)
    except FileExistsError:
        err.print(f"[red]评述文件已存在，未覆盖 / the commentary file exists:[/] {path}")
        return 1
    except OSError as e:
        err.print(f"[red]评述文件写入失败 cannot write:[/] {path} {e.strerror or e}")
        return 1
    out.print(
        f"已写入评述文件 / commentary file written: {path}\n"
        f"  {len(entries)} 项未达进度的指标各有一节 / one section per indicator not on track"
    )
    return 0
