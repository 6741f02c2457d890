"""Plain text where each table cell stands on its own line (a Word document saved as text).

A line that starts with a tab begins a cell; a short line without one, followed again by cells,
continues the cell before it (a long name or a merged cell printed over two lines). Rows are
rebuilt from the number of header cells and the indicator numbering: row k begins where the
number k stands (in a 序号 column, or before the name as “k.名称”), so a row that lost or gained a
cell does not shift the rows after it.
"""

from __future__ import annotations

import re

from transforms.plan_import.grid import Cell, Document, Grid, is_header_text

MAX_CONTINUATION = 40


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def read_text(data: bytes) -> Document:
    lines = decode(data).splitlines()
    runs, body = cell_runs(lines)
    tables = [g for g in (grid_of(run) for run in runs) if g]
    return Document(kind="text", tables=tables, body="\n".join(body))


def cell_runs(lines: list[str]) -> tuple[list[list[str]], list[str]]:
    """Runs of consecutive cells (each a table) and the body lines outside them."""
    runs: list[list[str]] = []
    body: list[str] = []
    current: list[str] | None = None
    for i, line in enumerate(lines):
        if line.startswith("\t"):
            if current is None:
                current = []
                runs.append(current)
            current.append(line.strip())
        elif not line.strip():
            continue
        elif current is not None and _continues(lines, i):
            current[-1] += line.strip()
        else:
            current = None
            body.append(line)
    return runs, body


def _continues(lines: list[str], i: int) -> bool:
    """A short untabbed line inside a table, with more cells after it, continues a cell."""
    for line in lines[i:]:
        if line.startswith("\t"):
            return True
        if len(line.strip()) > MAX_CONTINUATION:
            return False
    return False


def grid_of(cells: list[str]) -> Grid | None:
    """The run's rows (header first), or None when it does not start with a header."""
    header_len = next((i for i, c in enumerate(cells) if not is_header_text(c)), len(cells))
    if header_len < 2:
        return None
    header = cells[:header_len]
    num_col = number_column(header)
    prefixed = not ("序号" in header[num_col] or "编号" in header[num_col])
    starts = row_starts(cells, header_len, num_col, prefixed)
    if not starts:
        return None
    rows = [header]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else start + header_len
        rows.append(cells[start : min(end, start + header_len, len(cells))])
    return [[Cell(t) for t in r] + [Cell("")] * (header_len - len(r)) for r in rows]


def number_column(header: list[str]) -> int:
    """The column that holds the numbering: 序号, else the name column (“1.名称”)."""
    for i, h in enumerate(header):
        if "序号" in h or "编号" in h:
            return i
    for i, h in enumerate(header):
        if "名称" in h or re.sub(r"\s+", "", h) == "指标":
            return i
    return min(1, len(header) - 1)


def holds_number(cell: str, k: int, prefixed: bool) -> bool:
    """Cell is the number k: alone (序号 column) or before the name (“k.名称”)."""
    t = cell.strip()
    if prefixed:
        return bool(re.match(rf"^{k}[.．、]\S", t)) and not re.fullmatch(r"[\d.]+", t)
    return t in (str(k), f"{k}.", f"{k}、")


def row_starts(cells: list[str], header_len: int, num_col: int, prefixed: bool) -> list[int]:
    """Where each row begins: the position of number k minus the number column's index (a table
    that numbers each category from 1 again is followed through the restart)."""
    starts: list[int] = []
    expected = header_len + num_col
    k = 1
    while True:
        # a row may have lost a cell or two, not more: the next number is not among its values
        lo = (starts[-1] + num_col + max(2, header_len - 2)) if starts else header_len
        window = range(lo, min(len(cells), expected + header_len + 1))
        found = [p for p in window if holds_number(cells[p], k, prefixed)]
        if not found and k > 1:
            found = [p for p in window if holds_number(cells[p], 1, prefixed)]
            k = 1 if found else k
        if not found:
            return starts
        pos = min(found, key=lambda p: abs(p - expected))
        starts.append(pos - num_col)
        expected = pos + header_len
        k += 1
