"""What a parse returns and the guards it runs under: ParsedFile, Reject, UnreadableFile, Limits,
CatalogInfo, and the good values as one sorted frame."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from healthplan.definitions import Area, DataElement

GOOD_COLUMNS = ["area_code", "year", "element", "stratum", "value", "source_rows"]


class UnreadableFile(Exception):
    """A file that cannot be read at all; nothing from it may be stored."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class EncodingError(ValueError):
    """Bytes that are not UTF-8, UTF-8 with BOM, GBK or GB18030, or that mix encodings."""


@dataclass(frozen=True)
class Reject:
    """One rejected cell or row: where it is in the file, its raw value and why."""

    file: str
    row: int | None
    field: str | None
    value: str | None
    reason: str

    def as_quarantine(self) -> dict[str, Any]:
        return {
            "file_name": self.file,
            "row": self.row,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Limits:
    """Guards for XLSX files (zip bombs) and cells."""

    max_uncompressed_bytes: int = 200 * 2**20
    max_ratio: float = 100.0
    ratio_min_bytes: int = 2**20  # the ratio is judged for members larger than this
    max_members: int = 5_000
    max_cell_chars: int = 32_767  # Excel's own limit
    max_sheet_cells: int = 10_000_000  # a sheet's grid, first to last cell, when mostly empty


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class CatalogInfo:
    """What the parser needs to know of the catalog: the data elements and the known areas."""

    elements: Mapping[str, DataElement]
    areas: Mapping[str, str | None]  # area code → parent code (None at the top)

    @classmethod
    def from_catalog(cls, catalog: Any) -> CatalogInfo:
        return cls.from_areas(catalog.elements, catalog.all_areas().values())

    @classmethod
    def from_areas(cls, elements: Mapping[str, DataElement], areas: Iterable[Area]) -> CatalogInfo:
        return cls(dict(elements), {a.code: a.parent for a in areas})

    def children_count(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for parent in self.areas.values():
            if parent is not None:
                counts[parent] = counts.get(parent, 0) + 1
        return counts


@dataclass
class ParsedFile:
    """One file read by its layout: the good values, the rejects and notes worth a look."""

    name: str
    source: str
    layout: str
    format: str
    encoding: str | None
    sheet: str | None
    years: list[int]
    rows_read: int
    rows_loaded: int
    good: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    flags: list[Reject] = field(default_factory=list)  # kept values worth a look (e.g. ‰ → %)

    @property
    def rows_rejected(self) -> int:
        """Distinct data rows with at least one rejected cell (column-level notes excluded)."""
        return len({r.row for r in self.rejects if r.row is not None})

    @property
    def status(self) -> str:
        return "partial" if self.rejects else "loaded"


_GOOD_TYPES = {
    "area_code": "str",
    "year": "int64",
    "element": "str",
    "stratum": "str",
    "value": "float64",
    "source_rows": "str",
}


_GOOD_KEY = ["area_code", "year", "element", "stratum"]  # unique per file


def _good_frame(records: list[dict] | dict[str, Sequence[Any]]) -> pd.DataFrame:
    """The good values as GOOD_COLUMNS, sorted by their key (from records, or from columns:
    arrays, or lists taken as objects)."""
    if isinstance(records, dict):
        if not len(records["value"]):
            return _good_frame([])
        columns = {
            c: v if isinstance(v := records[c], np.ndarray) else _object_array(v)
            for c in GOOD_COLUMNS
        }
    elif not len(records):
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _GOOD_TYPES.items()})
    else:
        n = len(records)
        columns = {c: np.fromiter((r[c] for r in records), object, n) for c in GOOD_COLUMNS[:-1]}
        columns["source_rows"] = np.fromiter(
            (r["source_rows"] if "source_rows" in r else str(int(r["row"])) for r in records),
            object,
            n,
        )
    # the key is unique, so any sort gives the one order: lexsort of the sorted codes
    order = np.lexsort([pd.factorize(columns[c], sort=True)[0] for c in reversed(_GOOD_KEY)])
    # each column made in its type at once (as .astype(_GOOD_TYPES) makes it, at half the cost)
    return pd.DataFrame(
        {
            c: pd.array(columns[c][order], dtype=t) if t == "str" else columns[c][order].astype(t)
            for c, t in _GOOD_TYPES.items()
        }
    )


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A list as a 1-d object array (np.array would make a 2-d one of a list of tuples)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
