"""Facility sums as blocks of rows arrive, the (facility, year) keys claimed so far, and each
group's rows as ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from transforms.parsing.facility_rows import _FacilitySpec


class _FacilityTotals:
    """Kept facility rows summed per group (area, year, stratum) as blocks of rows arrive.

    Sums are added row by row in row order (``np.add.at``), as the per-row path adds them, so
    any cut of the sheet into blocks gives the same bits; an element is held back in a group
    where one of its cells was rejected. What stays per row is its group and row number."""

    def __init__(self, spec: _FacilitySpec):
        self.spec = spec
        self.ids: dict[tuple[str, int, str], int] = {}  # group → id, in order of first row
        self.cap = 0
        self.sums: dict[str, np.ndarray] = {e.code: np.zeros(0) for _, _, e in spec.columns}
        self.present = {code: np.zeros(0, bool) for code in self.sums}
        self.held = {code: np.zeros(0, bool) for code in self.sums}
        self.sizes = np.zeros(0, np.int64)
        self.row_groups: list[np.ndarray] = []  # each block's kept rows: group ids …
        self.row_numbers: list[np.ndarray] = []  # … and sheet row numbers

    def _grow(self, count: int) -> None:
        if count <= self.cap:
            return
        cap = max(count, 2 * self.cap, 64)
        for arrays in (self.sums, self.present, self.held):
            for code, old in arrays.items():
                arrays[code] = np.concatenate([old, np.zeros(cap - len(old), old.dtype)])
        self.sizes = np.concatenate([self.sizes, np.zeros(cap - len(self.sizes), np.int64)])
        self.cap = cap

    def group(self, key: tuple[str, int, str]) -> int:
        """The id of a group (area, year, stratum), a new one for a group not seen before."""
        return self.ids.setdefault(key, len(self.ids))

    def add(self, block: _KeptRows) -> None:
        """A block's kept rows (``block.index``) with their groups and cells, in row order."""
        index = block.index
        if not len(index):
            return
        gid = block.groups
        self._grow(len(self.ids))
        self.sizes += np.bincount(gid, minlength=self.cap)
        for code in self.sums:
            mask = block.has[code][index]
            np.add.at(self.sums[code], gid[mask], block.values[code][index][mask])
            self.present[code][gid[mask]] = True
            self.held[code][gid[block.broken[code][index]]] = True
        self.row_groups.append(gid.astype(np.int32))
        self.row_numbers.append((index + block.start + 1).astype(np.int32))

    def result(self) -> tuple[dict[str, Any] | list[dict], int]:
        """The good values (GOOD_COLUMNS, as columns) and how many rows went into them."""
        count = len(self.ids)
        if not count:
            return [], 0
        gid = np.concatenate(self.row_groups).astype(np.int64)
        rows_text = _row_ranges_per_group(gid, np.concatenate(self.row_numbers), count)
        del gid
        keys = list(self.ids)
        areas = np.fromiter((k[0] for k in keys), object, count)
        years = np.fromiter((k[1] for k in keys), np.int64, count)
        strata = np.fromiter((k[2] for k in keys), object, count)
        sizes = self.sizes[:count]
        parts: list[tuple[np.ndarray, str, list[float]]] = []
        for code, sums in self.sums.items():
            which = np.flatnonzero(self.present[code][:count] & ~self.held[code][:count])
            parts.append((which, code, _rounded(sums[which])))
        if self.spec.count_element:
            parts.append((np.arange(count), self.spec.count_element, _rounded(sizes.astype(float))))
        loaded = np.zeros(count, bool)
        for which, _, _ in parts:
            loaded[which] = True
        columns = {
            "area_code": np.concatenate([areas[w] for w, _, _ in parts]),
            "year": np.concatenate([years[w] for w, _, _ in parts]),
            "element": np.concatenate([np.full(len(w), c, dtype=object) for w, c, _ in parts]),
            "stratum": np.concatenate([strata[w] for w, _, _ in parts]),
            "value": np.array([x for _, _, s in parts for x in s], np.float64),
            "source_rows": np.concatenate([rows_text[w] for w, _, _ in parts]),
        }
        return columns, int(sizes[loaded].sum())


def _rounded(values: np.ndarray) -> list[float]:
    """round(v, 9) of each value: a whole number below 2**52 (most sums) is its own rounding,
    so only the others are rounded one by one."""
    out = values.tolist()
    whole = (values == np.floor(values)) & (np.abs(values) < 2.0**52)
    for i in np.flatnonzero(~whole).tolist():
        out[i] = round(out[i], 9)
    return out


class Claimed:
    """The (facility id, year) keys claimed so far, with the row that claimed each: what the
    duplicate check reads (``get``, as a dict) across a sheet's blocks. Kept per year as dicts
    by facility id: a big sheet's keys as tuples would keep the garbage collector busy."""

    def __init__(self) -> None:
        self.by_year: dict[Any, dict[str, int]] = {}

    def __bool__(self) -> bool:
        return any(self.by_year.values())

    def get(self, key: tuple[str, Any], default: int | None = None) -> int | None:
        claimed = self.by_year.get(key[1])
        return default if claimed is None else claimed.get(key[0], default)

    def __setitem__(self, key: tuple[str, Any], row: int) -> None:
        self.by_year.setdefault(key[1], {})[key[0]] = row

    def __contains__(self, key: tuple[str, Any]) -> bool:
        return self.get(key) is not None

    def which(self, fids: list[str], years: list[Any]) -> np.ndarray:
        """Whether each (fids[i], years[i]) is claimed."""
        if len(set(years)) == 1:
            claimed = self.by_year.get(years[0], {})
            return np.fromiter(map(claimed.__contains__, fids), bool, len(fids))
        return np.fromiter(map(self.__contains__, zip(fids, years, strict=True)), bool, len(fids))

    def claim_new(self, fids: list[str], year: Any, index: np.ndarray, first: int) -> np.ndarray:
        """Rows ``index`` claim their (facility, year) where no row has before them (row number
        = first + index); whether each row's key was claimed before (False off ``index``)."""
        claimed = self.by_year.setdefault(year, {})
        rows = index + first
        picked = fids if len(index) == len(fids) else list(map(fids.__getitem__, index.tolist()))
        holders = map(claimed.setdefault, picked, rows.tolist())
        before = np.zeros(len(fids), bool)
        before[index] = np.fromiter(holders, np.int64, len(index)) != rows
        return before

    def claim(self, fids: list[str], years: list[Any], index: np.ndarray, first: int) -> None:
        """Rows ``index`` claim their keys; row number = first + index."""
        rows = (index + first).tolist()
        picked = index.tolist()
        if len(set(years)) == 1:
            claimed = self.by_year.setdefault(years[0], {})
            claimed.update(zip(map(fids.__getitem__, picked), rows, strict=True))
            return
        for i, row in zip(picked, rows, strict=True):
            self[(fids[i], years[i])] = row


@dataclass
class _KeptRows:
    """A block of facility rows checked: the rows that count (``index``, 0-based within the
    block, whose first row is sheet row index ``start``) with their groups and cells."""

    start: int
    index: np.ndarray  # the kept rows
    groups: np.ndarray  # their groups' ids (``_FacilityTotals.group``)
    values: dict[str, np.ndarray]  # element → every row's value …
    has: dict[str, np.ndarray]  # … whether it holds one
    broken: dict[str, np.ndarray]  # … and whether its cell was rejected


MAX_GROUP_NUMBER = 2**62  # combinations of a block's distinct field cells numbered as int64


def _group_ids(
    totals: _FacilityTotals, rows: np.ndarray, *fields: tuple[np.ndarray, list[Any]]
) -> np.ndarray:
    """The group ids of clean rows, from the distinct cells of their area, year, ownership and
    type columns (each field: which distinct cell each row holds, and its checked value): a
    group's key (area, year, 'ownership:type') is made once per block, not once per row."""
    if not len(rows):
        return np.zeros(0, np.int64)
    (_, areas), (_, years), (_, owns), (_, typs) = fields
    sizes = [len(results) for _, results in fields]
    if math.prod(sizes) > MAX_GROUP_NUMBER:  # too many to number the combinations: per row
        cells = [map(results.__getitem__, codes[rows].tolist()) for codes, results in fields]
        keys = zip(*cells, strict=True)
        return np.array([totals.group((a, y, f"{o}:{t}")) for a, y, o, t in keys], np.int64)
    number = np.zeros(len(rows), np.int64)  # the row's combination as one number …
    for (codes, _), size in zip(fields, sizes, strict=True):
        number = number * size + codes[rows]
    distinct, which = np.unique(number, return_inverse=True)  # … and each distinct one's key
    a, y, o, t = np.unravel_index(distinct, sizes)
    pairs = (o * sizes[3] + t).tolist()
    strata = {p: f"{owns[p // sizes[3]]}:{typs[p % sizes[3]]}" for p in set(pairs)}
    group = totals.group
    ids = [
        group((areas[i], years[j], strata[p]))
        for i, j, p in zip(a.tolist(), y.tolist(), pairs, strict=True)
    ]
    return np.array(ids, np.int64)[which]


RANGES_STEP = 1 << 16  # rows turned into range texts at a time


def _row_ranges_per_group(gid: np.ndarray, rownums: np.ndarray, count: int) -> np.ndarray:
    """Each group's row numbers as ranges, e.g. '2-4,7' (source_rows), built a slice of groups
    at a time: on a big sheet the run texts are about one per row."""
    order = np.argsort(gid, kind="stable")
    g, r = gid[order], rownums[order]
    del order
    bounds = np.r_[np.flatnonzero(np.r_[True, g[1:] != g[:-1]]), len(g)]  # group k's rows start
    out = np.empty(count, dtype=object)
    lo = 0
    while lo < count:
        hi = int(np.searchsorted(bounds, bounds[lo] + RANGES_STEP, side="right")) - 1
        hi = min(max(hi, lo + 1), count)
        gg, rr = g[bounds[lo] : bounds[hi]], r[bounds[lo] : bounds[hi]]
        starts = np.flatnonzero(np.r_[True, (gg[1:] != gg[:-1]) | (rr[1:] != rr[:-1] + 1)])
        ends = np.r_[starts[1:], len(rr)] - 1
        firsts, lasts = rr[starts], rr[ends]
        runs = list(map(str, firsts.tolist()))  # most runs are one row …
        for k in np.flatnonzero(lasts > firsts).tolist():  # … the others 'first-last'
            runs[k] = f"{firsts[k]}-{lasts[k]}"
        run_bounds = np.r_[
            np.flatnonzero(np.r_[True, gg[starts][1:] != gg[starts][:-1]]), len(runs)
        ]
        out[lo:hi] = [
            ",".join(runs[a:b]) for a, b in zip(run_bounds[:-1], run_bounds[1:], strict=True)
        ]
        lo = hi
    return out
