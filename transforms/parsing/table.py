"""The sheet both readers hand over (``Table``) and its column views: a big sheet kept as columns
(``RowsOfColumns``) and one column's cells with their types (``Cells``)."""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import compress, repeat
from typing import Any

import numpy as np

from transforms.parsing.cells import COMMA_THOUSANDS, _is_blank, _text


@dataclass
class Table:
    """A sheet as rows of cells; rows[i] is spreadsheet row i + 1."""

    rows: list[list[Any]]
    sheet: str | None = None
    formula_gaps: set[tuple[int, int]] = field(default_factory=set)  # (row, 0-based column)
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # → '#DIV/0!' …
    # merged cell ranges as (first row, first column, last row, last column): rows 1-based,
    # columns 0-based; only ranges of more than one cell
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    # CSV: every row should have as many cells as the header (a short row was cut off, a long
    # one has an unquoted comma and its values sit in the wrong columns)
    fixed_width: bool = False
    # cells of element columns inside a merged range: (row, column) → the range, e.g. 'D3:D5'
    merged_values: dict[tuple[int, int], str] = field(default_factory=dict)
    # how the file writes numbers (cells.number_style): which commas and dots are unambiguous
    number_style: str = COMMA_THOUSANDS


def add_block(columns: list[list[Any]], n: int, top: int, left: int, block: list[list[Any]]) -> int:
    """Append a block of rows (rectangular, from row index ``top`` and column ``left``) to the
    sheet's columns, blank rows and cells as "" as calamine reads them; the new row count."""
    width = left + (len(block[0]) if block else 0)
    for _ in range(len(columns), width):
        columns.append([""] * n)  # a column no row before reached
    gap = top - n
    for index, column in enumerate(columns):
        if gap:
            column.extend([""] * gap)
        if not left <= index < width:
            column.extend([""] * len(block))
    for column, cells in zip(columns[left:width], zip(*block, strict=True), strict=True):
        column.extend(cells)
    return top + len(block)


def _col_index(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return col - 1


def _col_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _range_ref(r1: int, c1: int, r2: int, c2: int) -> str:
    return f"{_col_letters(c1)}{r1}:{_col_letters(c2)}{r2}"


@dataclass
class Block:
    """Rows of a sheet read in blocks: rectangular, from row index ``top`` and column ``left``."""

    top: int
    left: int
    rows: list[list[Any]]

    def columns(self) -> list[list[Any]]:
        """The block's cells as columns from column A, blank ("") left of ``left``."""
        columns: list[list[Any]] = []
        add_block(columns, 0, 0, self.left, self.rows)
        return columns


def column_cells(rows: Sequence[list[Any]], index: int, start: int) -> list[Any]:
    """One column's cells from row index ``start`` on, None where a row is shorter."""
    if isinstance(rows, RowsOfColumns):
        return rows.column(index, start)
    return [row[index] if index < len(row) else None for row in rows[start:]]


def set_cell(rows: Sequence[list[Any]], index: int, col: int, value: Any) -> None:
    """Write one cell: a column table's rows are rebuilt on each read, so write through it."""
    if isinstance(rows, RowsOfColumns):
        rows.set_cell(index, col, value)
    else:
        rows[index][col] = value


# cell types whose values equal no value of another type (unlike 1 == 1.0 == True)
_NEVER_EQUAL_ACROSS_TYPES = frozenset({str, type(None), datetime, date, time, timedelta})


def _first_positions(keys: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Which distinct key each key is (numbered in order of first appearance), and the first of
    each: one dict look-up per key, the numbers given out by the dict itself."""
    position: defaultdict[Any, int] = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(position.__getitem__, keys), np.intp, len(keys))
    return codes, list(position)


class Cells:
    """One column's cells and the set of their types: most columns hold one type (text or
    numbers), and then no cell needs looking at one by one to know its type."""

    def __init__(self, cells: Sequence[Any], few: bool = False):
        """``few``: the column holds few distinct cells (codes, 是/否): they are found first,
        and where no two of them can be equal across types, their types are the column's."""
        self.cells = cells
        self._distinct: list[Any] | None = None  # one cell of each kind, in order of first …
        self._codes: np.ndarray | None = None  # … and which of them each cell is
        self._longest: int | None = None
        if not few:
            self.types = set(map(type, cells))
            return
        codes, distinct = _first_positions(cells)
        self.types = set(map(type, distinct))
        if not self.types <= _NEVER_EQUAL_ACROSS_TYPES:  # 1.0 may stand for True: look at all
            self.types = set(map(type, cells))
            if len(self.types) > 1:  # then (type, value) tells cells apart (see coded)
                return
        self._codes, self._distinct = codes, distinct

    def of_type(self, kind: type) -> np.ndarray:
        """Which cells are of exactly this type."""
        if self.types == {kind}:
            return np.ones(len(self.cells), bool)
        if kind not in self.types:
            return np.zeros(len(self.cells), bool)
        return np.fromiter(map(operator.is_, map(type, self.cells), repeat(kind)), bool)

    def _keys(self) -> Sequence[Any]:
        """What tells cells apart: the value where the column holds one type, else (type,
        value), as 1.0 == True."""
        if len(self.types) == 1:
            return self.cells
        return list(zip(map(type, self.cells), self.cells, strict=True))

    def coded(self) -> tuple[np.ndarray, list[Any]]:
        """(which distinct cell each cell is, one cell of each kind): the first of equal cells
        stands for them all, as a set keeps it."""
        if self._codes is None:
            self._codes, distinct = _first_positions(self._keys())
            self._distinct = distinct if len(self.types) == 1 else [k[1] for k in distinct]
        return self._codes, self._distinct  # type: ignore[return-value]

    def per_distinct(self, fn: Any) -> list[Any]:
        """fn of every cell, called once per distinct cell (1.0 and True are told apart)."""
        codes, distinct = self.coded()
        results = list(map(fn, distinct))
        return list(map(results.__getitem__, codes.tolist()))

    def long_text(self, limit: int) -> np.ndarray | None:
        """Which cells are text longer than the cell limit (cut and flagged per row); None when
        none is."""
        if str not in self.types:
            return None
        if self._codes is not None:  # a few distinct cells: their lengths tell
            codes, distinct = self.coded()
            long = [type(v) is str and len(v) > limit for v in distinct]
            return np.array(long, bool)[codes] if any(long) else None
        is_text = self.of_type(str)
        texts = self.cells if len(self.types) == 1 else list(compress(self.cells, is_text))
        if self._longest is None:
            self._longest = max(map(len, texts), default=0)
        if self._longest <= limit:
            return None
        out = np.zeros(len(self.cells), bool)
        out[is_text] = np.fromiter(map(len, texts), np.int64, len(texts)) > limit
        return out

    def texts(self, limit: int) -> list[str]:
        """Every cell as ``_text`` gives it, after the cut at the cell limit."""
        if self.types == {str}:
            if self._longest is None:
                self._longest = max(map(len, self.cells), default=0)
            if self._longest <= limit and all(map(str.isascii, self.cells)):
                return list(map(str.strip, self.cells))  # what _text does to short ASCII text
        return [_text(v[:limit] if type(v) is str else v) for v in self.cells]


def columns_of(rows: list[list[Any]], first: int, step: int = 8192) -> list[list[Any]]:
    """The rows from ``first`` on, all of one length, as columns; each row list is let go once
    its cells are in the columns, so the sheet is never held twice."""
    columns: list[list[Any]] = [[] for _ in rows[first]]
    for start in range(first, len(rows), step):
        part = rows[start : start + step]
        for column, cells in zip(columns, zip(*part, strict=True), strict=True):
            column.extend(cells)
        rows[start : start + len(part)] = [None] * len(part)  # type: ignore[list-item]
        del part
    return columns


class RowsOfColumns(Sequence):
    """A sheet's rows read through its columns once they are taken apart: the row lists are
    about a third of a big sheet's memory, and only the few rows checked one by one are
    needed as rows again (rebuilt on demand, as lists of the same cells).

    ``start``: the row index of the columns' first row, when rows between the head rows and
    the columns are gone (a sheet checked block by block holds its header and one block)."""

    def __init__(self, head: list[list[Any]], columns: list[list[Any]], start: int | None = None):
        self.head = head
        self.columns = columns
        self.n = len(columns[0]) if columns else 0
        self.width = len(columns)
        self.start = len(head) if start is None else start

    def __len__(self) -> int:
        return self.start + self.n

    def data_columns(self, first: int) -> list[list[Any]]:
        """The columns from row index ``first`` on; the rows above become head rows (the
        cells move, they are not copied)."""
        take = max(first - len(self.head), 0)
        if take:
            self.head.extend([column[i] for column in self.columns] for i in range(take))
            for column in self.columns:
                del column[:take]
            self.n -= take
            self.start = len(self.head)
        if len(self.head) != first or self.start != first:
            raise ValueError(f"data columns from row {first}: {len(self.head)} head rows")
        return self.columns

    def column(self, index: int, start: int) -> list[Any]:
        """Column ``index``'s cells from row index ``start`` on (None past a row's end)."""
        head = [r[index] if index < len(r) else None for r in self.head[start:]]
        skip = max(start - self.start, 0)
        if index >= self.width:
            return head + [None] * max(self.n - skip, 0)
        return head + self.columns[index][skip:]

    def set_cell(self, index: int, col: int, value: Any) -> None:
        if index < len(self.head):
            self.head[index][col] = value
        else:
            self.columns[col][index - self.start] = value

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if 0 <= index < len(self.head):
            return self.head[index]
        if not self.start <= index < len(self):
            raise IndexError(index)  # past the end, or a row no longer held
        i = index - self.start
        return [column[i] for column in self.columns]


def _has_data(table: Table) -> bool:
    return any(not _is_blank(c) for r in table.rows for c in r)
