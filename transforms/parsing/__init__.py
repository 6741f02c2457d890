"""Read one source file's bytes into observations and rejects, by the source layouts.

Pure: bytes and plain values in, DataFrames and lists out; no file I/O, no database, no Prefect.

``parse_file(name, data, layouts, catalog_info)`` finds the file's layout from its header and
year, reads every data row, and returns the good values as ``(area_code, year, element, stratum,
value, source_rows)`` plus a list of rejects, each naming the row and column a user sees in a
spreadsheet (header included, 1-based) and a reason, Chinese first. A file that cannot be read at
all raises ``UnreadableFile`` with the file name and the reason.

The modules, each with one job, in the order they depend on each other: ``results`` (what a
parse returns), ``cells`` (one raw cell), ``table`` (the sheet both readers hand over),
``csv_table`` and ``xlsx_zip``/``xlsx_table`` (the readers), ``layout_match`` (which layout),
``rules`` (a cell in its row's context), ``rows`` (a sheet's data rows), ``long_shape``,
``facility_rows``, ``facility_totals``, ``facility_columns`` (the shapes), ``parse`` (the whole).
"""

from transforms.parsing.cells import (
    MISSING_TOKENS,
    NOTE_PREFIXES,
    CellError,
    compact_rows,
    parse_number,
    shorten,
)
from transforms.parsing.csv_table import detect_encoding, read_csv_table
from transforms.parsing.layout_match import LayoutMatch, choose_layout
from transforms.parsing.parse import file_format, parse_file
from transforms.parsing.results import (
    DEFAULT_LIMITS,
    GOOD_COLUMNS,
    CatalogInfo,
    EncodingError,
    Limits,
    ParsedFile,
    Reject,
    UnreadableFile,
)
from transforms.parsing.rules import ElementRule, RowContext
from transforms.parsing.table import Table
from transforms.parsing.xlsx_table import XlsxBook

__all__ = [
    "DEFAULT_LIMITS",
    "GOOD_COLUMNS",
    "MISSING_TOKENS",
    "NOTE_PREFIXES",
    "CatalogInfo",
    "CellError",
    "EncodingError",
    "Limits",
    "ParsedFile",
    "Reject",
    "UnreadableFile",
    "LayoutMatch",
    "RowContext",
    "ElementRule",
    "Table",
    "XlsxBook",
    "read_csv_table",
    "choose_layout",
    "compact_rows",
    "detect_encoding",
    "file_format",
    "parse_file",
    "parse_number",
    "shorten",
]
