"""Word, HTML, Excel and PDF plan documents read into grids (merged cells kept) and body text.

Pure: bytes in, a ``Document`` out. Word: python-docx, with w:vMerge (a cell merged down) and
w:gridSpan read from the table XML. HTML: lxml's HTML parser (libxml2 — fast, well kept, and
tolerant of the broken markup government sites publish), rowspan/colspan laid out on a grid.
Excel: openpyxl, merged ranges. PDF: pdfplumber's table extraction on the text layer.
"""

from __future__ import annotations

import io
import re

from transforms.plan_import.grid import Cell, Document, Grid, PlanImportError, square
from transforms.plan_import.text_table import read_text

BLOCK_TAGS = ("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "tr", "title")


def read_document(name: str, data: bytes) -> Document:
    """The document's tables and body text, by the file's extension."""
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    readers = {
        "txt": read_text,
        "text": read_text,
        "docx": read_docx,
        "html": read_html,
        "htm": read_html,
        "xlsx": read_xlsx,
        "xlsm": read_xlsx,
        "pdf": read_pdf,
    }
    if suffix in ("doc", "xls", "wps"):
        raise PlanImportError(
            f"{name}：旧版 Office 格式，请另存为 .docx / .xlsx 后再导入 / "
            "old binary Office format: save as .docx or .xlsx first"
        )
    if suffix not in readers:
        raise PlanImportError(
            f"{name}：不支持的文件类型 / unsupported file type (.docx .xlsx .html .txt .pdf)"
        )
    try:
        return readers[suffix](data)
    except PlanImportError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged file is the user's to fix, said plainly
        raise PlanImportError(
            f"{name}：无法读取 / cannot read the file ({type(e).__name__}: {e})"
        ) from e


def without_caption(grid: Grid, body: list[str]) -> Grid:
    """Leading rows holding a single text (a table caption or title) moved to the body."""
    while len(grid) > 2 and len({c.text for c in grid[0] if c.text.strip()}) <= 1:
        texts = [c.text for c in grid[0] if c.text.strip()]
        body.extend(texts[:1])
        grid = grid[1:]
    return grid


# ---------------------------------------------------------------- Word


def read_docx(data: bytes) -> Document:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    body: list[str] = []
    tables: list[Grid] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            tables.append(without_caption(docx_grid(block), body))
        else:
            body.append(block.text)
    return Document(kind="docx", tables=tables, body="\n".join(body))


def docx_grid(table) -> Grid:
    """The table's grid: a w:vMerge continuation cell carries the text of the cell above."""
    rows: list[list[Cell]] = []
    for tr in table._tbl.tr_lst:
        row: list[Cell] = []
        for tc in tr.tc_lst:
            text = "\n".join(p.text for p in _paragraphs(tc)).strip()
            continued = tc.vMerge not in (None, "restart")
            col = len(row)
            if continued and rows and col < len(rows[-1]):
                cell = Cell(rows[-1][col].text, merged=True)
            else:
                cell = Cell(text)
            row.extend([cell] * tc.grid_span)
        rows.append(row)
    return square(rows)


def _paragraphs(tc):
    from docx.text.paragraph import Paragraph

    return [Paragraph(p, None) for p in tc.p_lst]


# ---------------------------------------------------------------- HTML


def decode_html(data: bytes) -> str:
    m = re.search(rb"charset=[\"']?([\w-]+)", data[:4096], re.IGNORECASE)
    declared = m.group(1).decode("ascii").lower() if m else None
    if declared in ("gb2312", "gbk"):
        declared = "gb18030"
    for encoding in filter(None, (declared, "utf-8", "gb18030")):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


def read_html(data: bytes) -> Document:
    import lxml.html

    root = lxml.html.document_fromstring(decode_html(data))
    body: list[str] = []
    heading = root.findtext(".//h1") or root.findtext(".//title")
    if heading:
        body.append(heading.strip())
    grids = [(t, html_grid(t)) for t in root.iter("table")]
    tables = [without_caption(grid, body) for _, grid in grids]
    for t, grid in grids:  # data tables leave the body text; layout tables around it stay
        if not list(t.iter("table"))[1:] and grid and len(grid[0]) >= 3:
            t.drop_tree()
    for el in root.iter(*BLOCK_TAGS):
        el.tail = "\n" + (el.tail or "")
    body.append(root.text_content())
    return Document(kind="html", tables=[t for t in tables if t], body="\n".join(body))


def html_grid(table) -> Grid:
    """The <table>'s grid: a cell under a rowspan carries its text, merged=True."""
    taken: dict[tuple[int, int], Cell] = {}
    rows = [tr for tr in table.iter("tr") if next(tr.iterancestors("table")) is table]
    for r, tr in enumerate(rows):
        c = 0
        for td in tr:
            if td.tag not in ("td", "th"):
                continue
            while (r, c) in taken:
                c += 1
            text = re.sub(r"[ \t\r\n]+", " ", td.text_content()).strip()
            rowspan, colspan = _span(td, "rowspan"), _span(td, "colspan")
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken[(r + dr, c + dc)] = Cell(text, merged=dr > 0)
            c += colspan
    width = max((c for _, c in taken), default=-1) + 1
    return [[taken.get((r, c), Cell("")) for c in range(width)] for r in range(len(rows))]


def _span(td, attr: str) -> int:
    try:
        return max(1, min(int(td.get(attr, "1")), 500))
    except ValueError:
        return 1


# ---------------------------------------------------------------- Excel


def read_xlsx(data: bytes) -> Document:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    body: list[str] = []
    tables = [without_caption(sheet_grid(ws), body) for ws in wb.worksheets]
    return Document(kind="xlsx", tables=[t for t in tables if t], body="\n".join(body))


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def sheet_grid(ws) -> Grid:
    """The sheet's used range; a cell below the top row of a merged range carries its text."""
    values = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    grid = [[Cell(t) for t in row] for row in values]
    for rng in ws.merged_cells.ranges:
        origin = values[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col):
                    grid[r - 1][c - 1] = Cell(origin, merged=r > rng.min_row)
    return square([row for row in grid if any(c.text for c in row)])


# ---------------------------------------------------------------- PDF


def read_pdf(data: bytes) -> Document:
    """Tables pdfplumber finds on the text layer; a table continued on the next page joins it."""
    import pdfplumber

    tables: list[Grid] = []
    body: list[str] = []
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            found = page.find_tables()
            rest = page
            for table in found:
                rest = rest.outside_bbox(table.bbox)
            body.append(rest.extract_text() or "")
            for table in found:
                grid = square([[Cell(pdf_text(v)) for v in row] for row in table.extract()])
                if tables and grid and len(grid[0]) == len(tables[-1][0]) and _continues(grid):
                    tables[-1].extend(grid)
                else:
                    tables.append(grid)
    if not "".join(body).strip():
        raise PlanImportError(
            "PDF 没有文字层（扫描件），请先做文字识别或提供 .docx / no text layer (a scan)"
        )
    return Document(kind="pdf", tables=tables, body="\n".join(body))


def pdf_text(value) -> str:
    """A PDF cell's text with the line breaks of its wrapping removed (Chinese needs no space)."""
    return re.sub(r"\s*\n\s*", "", cell_text(value))


def _continues(grid: Grid) -> bool:
    """A table whose first row is an indicator row continues the table of the page before."""
    from transforms.plan_import.rows import is_data_row

    return is_data_row(grid[0])
