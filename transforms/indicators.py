"""Plan indicators from observations, by the formulas in the plan definitions.

Counts are summed up the area hierarchy and the factor applies last, so a city's rate is never an
average of its counties' rates. Pure: DataFrames and plan models in, a DataFrame out.

Formulas are computed on a grid of (area, year) cells (``_Grid``): a term's values are a flat
array over the cells (NaN: no value) beside a mask of the cells it has rows for, so a plan costs
a few array operations per term and tree level instead of the pandas calls (groupbys, index
alignment) that took ≈ 1 s however small the data. Cells are summed exactly as pandas' groupby
sums them (``_group_sums``): the values are the same to the bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from functools import reduce

import numpy as np
import pandas as pd

from healthplan.definitions import Area, Formula, Indicator, Plan, Term

OBSERVATION_COLUMNS = ["area_code", "year", "element", "stratum", "value"]
INDICATOR_COLUMNS = [
    "plan_id",
    "number",
    "area_code",
    "year",
    "stratum",
    "value",
    "numerator",
    "denominator",
]


class AreaTree:
    """Parent/child relations of one jurisdiction, deepest level first for roll-ups."""

    def __init__(self, areas: Sequence[Area]):
        self.areas = {a.code: a for a in areas}
        self.parent = {a.code: a.parent for a in areas if a.parent}
        depth: dict[str, int] = {}
        for code in self.areas:
            d, cur = 0, code
            while cur in self.parent:
                cur, d = self.parent[cur], d + 1
                if d > len(self.areas):
                    raise ValueError(f"area hierarchy has a cycle at {code}")
            depth[code] = d
        self.depth = depth

    def levels_deepest_first(self) -> list[list[str]]:
        by_depth: dict[int, list[str]] = {}
        for code, d in self.depth.items():
            by_depth.setdefault(d, []).append(code)
        return [sorted(by_depth[d]) for d in sorted(by_depth, reverse=True)]

    def units(self, root: str, levels: Iterable[str]) -> list[str]:
        """Areas of the given levels below root (e.g. every town of a district)."""
        wanted = set(levels)
        return sorted(
            code
            for code, a in self.areas.items()
            if a.level in wanted and code != root and self.is_below(code, root)
        )

    def is_below(self, code: str, root: str) -> bool:
        cur = code
        while cur in self.parent:
            cur = self.parent[cur]
            if cur == root:
                return True
        return False


def _matches(stratum: str, patterns: tuple[str, ...] | None) -> bool:
    if patterns is None:
        return True
    return any(fnmatchcase(stratum, p) for p in patterns)


def _wanted(stratum: str, patterns: tuple[str, ...] | None, only_stratum: str | None) -> bool:
    """Whether a term reads a stratum: one of its patterns, and the split stratum if any."""
    return _matches(stratum, patterns) and (
        only_stratum is None or stratum == only_stratum or stratum.endswith(":" + only_stratum)
    )


# What a term reads of an element's observations.
TERM_COLUMNS = ["area_code", "year", "stratum", "value"]


class ByElement(Mapping[str, pd.DataFrame]):
    """Observations split by element once, so a term reads only its element's rows (a plan's
    formulas name each element many times; comparing the whole element column for every term
    made the computation grow with terms × rows). Also memoises rolled-up term sums.

    Each element's rows are held as their positions in the observations and taken (only what
    a term reads) when a term reads them: a copy of every element's rows doubled the
    observations while a plan was computed (Guilin at 4× the preset: ≈ 16 MB). The elements no
    later formula needs can be forgotten while a plan is computed.
    """

    def __init__(self, obs: pd.DataFrame):
        codes, elements, counts = _codes(obs["element"].to_numpy())
        # each element's rows in their own order (as int32: held while the plan is computed)
        order = np.argsort(codes, kind="stable").astype(np.int32)
        del codes
        start = len(order) - sum(counts)  # the rows of no element come first: skipped
        ends = start + np.cumsum(counts, dtype=np.int64)
        self._columns = obs[[c for c in TERM_COLUMNS if c in obs.columns]]
        self._rows: dict[str, np.ndarray] = {}
        for element, end in zip(elements, ends.tolist(), strict=True):
            if end > start:
                self._rows[str(element)] = order[start:end]
            start = end
        self.rolled: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._grids: dict[int, tuple[AreaTree | None, _Grid, np.ndarray]] = {}
        self._strata: dict[str, tuple[np.ndarray, list]] = {}

    def __getitem__(self, element: str) -> pd.DataFrame:
        return self._columns.take(self._rows[element]).reset_index(drop=True)

    def __contains__(self, element: object) -> bool:
        return element in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    @staticmethod
    def of(obs: pd.DataFrame | ByElement) -> ByElement:
        return obs if isinstance(obs, ByElement) else ByElement(obs)

    def forget(self, elements: Iterable[str]) -> None:
        """Drop the rows and memoised sums of elements no later term reads."""
        gone = set(elements)
        for element in gone:
            self._rows.pop(element, None)
            self._strata.pop(element, None)
        self.rolled = {k: v for k, v in self.rolled.items() if k[1] not in gone}

    def grid(self, tree: AreaTree | None) -> tuple[_Grid, np.ndarray]:
        """The grid of the tree (None: no tree) and the observations, and each row's cell:
        made once per tree, as every term of a plan sums into the same cells."""
        key = id(tree)
        if key not in self._grids:
            grid, cells = _Grid.of(
                tree or AreaTree([]),
                self._columns["area_code"].array,
                self._columns["year"].to_numpy(),
            )
            self._grids[key] = (tree, grid, cells)  # the tree held: its id stays its own
        return self._grids[key][1:]

    def term_rows(self, term: Term, only_stratum: str | None) -> np.ndarray:
        """Positions of the rows a term reads: its element's, in the strata it names (and in
        the split stratum asked for), in their order."""
        rows = self._rows.get(term.element)
        if rows is None:
            return np.empty(0, np.int32)
        if term.strata is None and only_stratum is None:
            return rows
        codes, strata = self._strata_of(term.element)
        wanted = [_wanted(s, term.strata, only_stratum) for s in strata]
        return rows[np.array([*wanted, False])[codes]]  # a missing stratum (-1): none

    def _strata_of(self, element: str) -> tuple[np.ndarray, list]:
        """The element's rows' strata as codes into its distinct strata, found once."""
        if element not in self._strata:
            strata = self._columns["stratum"].take(self._rows[element]).astype(str)
            codes, uniques = pd.factorize(strata.to_numpy())
            self._strata[element] = (codes, list(uniques))
        return self._strata[element]

    def values(self, rows: np.ndarray) -> np.ndarray:
        return self._columns["value"].to_numpy(dtype=np.float64)[rows]


# Rows factorized at a time: pandas sizes its hash table by the rows it is given, not by the
# distinct values (a whole column of Guilin's 485,000 observations at 4× the preset: ≈ 30 MB)
CODES_CHUNK = 65_536


def _codes(values: np.ndarray) -> tuple[np.ndarray, list, list[int]]:
    """``pd.factorize(values)`` (codes in order of appearance, missing → -1) and the rows of
    each distinct value, a chunk of rows at a time."""
    codes = np.empty(len(values), dtype=np.int32)
    index: dict = {}
    counts: list[int] = []
    for start in range(0, len(values), CODES_CHUNK):
        part, uniques = pd.factorize(values[start : start + CODES_CHUNK])
        known = np.array([*(index.setdefault(u, len(index)) for u in uniques), -1], np.int32)
        codes[start : start + CODES_CHUNK] = known[part]
        counts += [0] * (len(index) - len(counts))
        found = np.bincount(part[part >= 0]).tolist()
        for code, n in zip(known[:-1].tolist(), found, strict=True):
            counts[code] += n
    return codes, list(index), counts


class _Grid:
    """The (area, year) cells a plan's values are computed on: areas in code order (the tree's,
    their parents', any other the rows name), the rows' years ascending. Cell of an area and a
    year: ``area position * len(years) + year position``; sorting by cell sorts by
    (area_code, year), as the Series these arrays stand for are sorted."""

    def __init__(self, tree: AreaTree, areas: list[str], years: np.ndarray):
        self.areas = pd.array(areas, dtype="str")
        self.years = years
        self.shape = (len(areas), len(years))  # a flat array over the cells, by area
        self.size = len(areas) * len(years)
        at = {code: i for i, code in enumerate(areas)}
        # per level of the tree, deepest first: its areas with a parent (in code order), and
        # their parents
        self.levels: list[tuple[np.ndarray, np.ndarray]] = []
        for level in tree.levels_deepest_first():
            children = [code for code in level if code in tree.parent]
            if children:
                parents = [at[tree.parent[code]] for code in children]
                self.levels.append((np.array([at[c] for c in children]), np.array(parents)))

    @classmethod
    def of(cls, tree: AreaTree, area_values, year_values) -> tuple[_Grid, np.ndarray]:
        """The grid of a tree and of rows with these areas and years, and each row's cell
        (-1: a row with no area or year, which pandas' groupby drops)."""
        areas = sorted({*tree.areas, *tree.parent.values()})
        at = pd.Index(areas).get_indexer(area_values)
        if (at < 0).any():  # areas outside the tree: theirs are never rolled up
            others = pd.unique(np.asarray(area_values, dtype=object)[at < 0])
            areas = sorted({*areas, *(a for a in others if not pd.isna(a))})
            at = pd.Index(areas).get_indexer(area_values)
        years, year_at = _year_positions(np.asarray(year_values))
        cells = at * len(years) + year_at
        cells[(at < 0) | (year_at < 0)] = -1
        return cls(tree, areas, years), cells.astype(
            np.int32 if len(areas) * len(years) < 2**31 else np.int64
        )

    def area_codes(self, cells: np.ndarray):
        return self.areas.take(cells // len(self.years))

    def cell_years(self, cells: np.ndarray) -> np.ndarray:
        return self.years[cells % len(self.years)]

    def series(self, values: np.ndarray, named: np.ndarray, name=None) -> pd.Series:
        """The cells a Series has rows for as that Series, sorted by (area_code, year)."""
        cells = np.flatnonzero(named)
        index = pd.MultiIndex.from_arrays(
            [self.area_codes(cells), self.cell_years(cells)], names=["area_code", "year"]
        )
        return pd.Series(values[cells], index=index, name=name)

    def placed(self, cells: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
        """Values of rows at these cells as an array over the grid (NaN elsewhere), and which
        cells have a row."""
        out = np.full(self.size, np.nan)
        named = np.zeros(self.size, bool)
        kept = cells >= 0
        out[cells[kept]] = np.asarray(values, dtype=np.float64)[kept]
        named[cells[kept]] = True
        return out, named


def _year_positions(years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct years ascending and each row's position among them (-1: no year)."""
    missing = pd.isna(years)
    if not missing.any():
        distinct = np.unique(years)
        return distinct, np.searchsorted(distinct, years)
    distinct = np.unique(years[~missing])
    at = np.full(len(years), -1, dtype=np.intp)
    at[~missing] = np.searchsorted(distinct, years[~missing])
    return distinct, at


def _group_sums(cells: np.ndarray, values: np.ndarray, size: int):
    """``pd.Series(values).groupby(cells).sum()`` on the grid: each cell's sum (0 where it has
    no value), how many values it summed and whether any row names it (cell -1: none).

    Summed as pandas 3 sums groups, to the bit: each cell's run of rows by ``np.add.reduceat``
    when the cells never decrease and no value is NaN, else Kahan-compensated in row order.
    """
    sums = np.zeros(size)
    counts = np.zeros(size, np.int64)
    named = np.zeros(size, bool)
    kept = cells >= 0
    named[cells[kept]] = True
    nan = np.isnan(values)
    if not nan.any() and bool((cells[1:] >= cells[:-1]).all()):
        cells, values = cells[kept], values[kept]  # the rows of cell -1 come first
        if len(cells):
            starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
            sums[cells[starts]] = np.add.reduceat(values, starts)
            counts[cells[starts]] = np.diff(starts, append=len(cells))
        return sums, counts, named
    kept &= ~nan
    _add_compensated(sums, counts, cells[kept], values[kept])
    return sums, counts, named


def _add_compensated(sums: np.ndarray, counts: np.ndarray, cells: np.ndarray, values):
    """pandas' Cython group sum: for each cell, its values in row order by Kahan's
    compensated sum (the compensation reset where an infinity makes it NaN). Vectorised over
    the cells: step k adds each cell's k-th value."""
    counts += np.bincount(cells, minlength=len(counts))
    if not len(cells):
        return
    order = np.argsort(cells, kind="stable")
    cells, values = cells[order], values[order]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    rank = np.arange(len(cells)) - np.repeat(starts, np.diff(starts, append=len(cells)))
    by_rank = np.argsort(rank, kind="stable")
    carry = np.zeros(len(sums))
    start = 0
    with np.errstate(invalid="ignore"):
        for end in np.cumsum(np.bincount(rank)).tolist():
            step = by_rank[start:end]
            at, value = cells[step], values[step]
            total = sums[at]
            y = value - carry[at]
            t = total + y
            c = t - total - y
            c[np.isnan(c)] = 0.0
            sums[at], carry[at] = t, c
            start = end


def _term_sums(obs: ByElement, tree: AreaTree | None, term: Term, stratum: str | None):
    """term_values on the grid: the sum of each cell's rows (NaN if none has a value), and
    which cells have rows."""
    grid, cells = obs.grid(tree)
    rows = obs.term_rows(term, stratum)
    sums, counts, named = _group_sums(cells[rows], obs.values(rows), grid.size)
    sums[counts == 0] = np.nan
    return sums, named


def term_values(
    obs: pd.DataFrame | ByElement, term: Term, only_stratum: str | None = None
) -> pd.Series:
    """Observed values of one term summed over its matching strata, per (area_code, year)."""
    obs = ByElement.of(obs)
    sums, named = _term_sums(obs, None, term, only_stratum)
    if not named.any():
        return pd.Series(dtype="float64", index=_empty_index())
    return obs.grid(None)[0].series(sums, named, "value")


def _rolled_term(obs: ByElement, term: Term, tree: AreaTree, stratum: str | None):
    """roll_up_sum(term_values(...)) on the grid, computed once per term and stratum."""
    key = (id(tree), term.element, term.strata, stratum)
    if key not in obs.rolled:
        grid = obs.grid(tree)[0]
        obs.rolled[key] = _rolled_sums(grid, *_term_sums(obs, tree, term, stratum))
    return obs.rolled[key]


def _empty_index() -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([[], []], names=["area_code", "year"])


def _rolled_sums(grid: _Grid, values: np.ndarray, named: np.ndarray):
    """roll_up_sum on the grid, level by level, deepest first: a parent's value is the sum of
    its children's where any child has one, else its own; a parent any child has a row for
    has a row."""
    values, named = values.copy(), named.copy()
    if not named.any():
        return values, named
    by_area, named_by_area = values.reshape(grid.shape), named.reshape(grid.shape)
    for children, parents in grid.levels:
        child, year = np.nonzero(named_by_area[children])  # the rows, by (area_code, year)
        if not len(child):
            continue
        at = parents[child] * len(grid.years) + year
        sums, counts, groups = _group_sums(at, by_area[children[child], year], grid.size)
        np.copyto(values, sums, where=counts > 0)
        named |= groups
    return values, named


def roll_up_sum(values: pd.Series, tree: AreaTree) -> pd.Series:
    """Each area's value: the sum of its children's where any child has data, else its own."""
    if values.empty:
        return values
    index = values.index
    grid, cells = _Grid.of(tree, index.get_level_values(0), index.get_level_values(1))
    return grid.series(*_rolled_sums(grid, *grid.placed(cells, values)), values.name)


def _weighted_means(grid: _Grid, values, named, weights, weights_named):
    """roll_up_weighted on the grid: where an area has no value of its own, its children's
    mean weighted by their rolled-up weights."""
    values, named = values.copy(), named.copy()
    if not named.any():
        return values, named
    weights = _rolled_sums(grid, weights, weights_named)[0]
    n_years = len(grid.years)
    by_area, named_by_area = values.reshape(grid.shape), named.reshape(grid.shape)
    weights_by_area = weights.reshape(grid.shape)
    for children, parents in grid.levels:
        child, year = np.nonzero(named_by_area[children])
        areas = children[child]
        value, weight = by_area[areas, year], weights_by_area[areas, year]
        ok = ~np.isnan(value) & ~np.isnan(weight)
        if not ok.any():
            continue
        at = (parents[child] * n_years + year)[ok]
        num, _, groups = _group_sums(at, value[ok] * weight[ok], grid.size)
        den = _group_sums(at, weight[ok], grid.size)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            means = np.where(groups, num / den, np.nan)
        means[np.isinf(means)] = np.nan
        np.copyto(values, means, where=np.isnan(values))
        named |= ~np.isnan(means)
    return values, named


def roll_up_weighted(values: pd.Series, weights: pd.Series, tree: AreaTree) -> pd.Series:
    """Reported measures upward: an area's own report wins, else children's weighted mean."""
    if values.empty:
        return values
    keys = [values.index] if weights.empty else [values.index, weights.index]
    areas, years = (
        np.concatenate([k.get_level_values(n).to_numpy() for k in keys]) for n in (0, 1)
    )
    grid, cells = _Grid.of(tree, areas, years)
    n = len(values)
    own = grid.placed(cells[:n], values)
    weighted = grid.placed(cells[n:], weights.to_numpy(np.float64) if len(cells) > n else [])
    return grid.series(*_weighted_means(grid, *own, *weighted), values.name)


def _summed_terms(obs: ByElement, terms: list[Term], tree: AreaTree, stratum: str | None):
    """All terms summed, left to right as pandas sums a row; NaN unless every term has a
    value."""
    return reduce(np.add, [_rolled_term(obs, t, tree, stratum)[0] for t in terms])


def _formula_cells(obs: ByElement, formula: Formula, tree: AreaTree, stratum: str | None):
    """formula_values on the grid: value, numerator and denominator arrays (value NaN: no
    row)."""
    if formula.kind == "reported":
        return _reported_cells(obs, formula, tree, stratum)
    if formula.kind == "ratio":
        num = _summed_terms(obs, formula.numerator_terms, tree, stratum)
        den = _summed_terms(obs, formula.denominator_terms, tree, stratum)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = formula.factor * num / np.where(den != 0, den, np.nan)
        return value, num, den
    grid = obs.grid(tree)[0]
    values, named = _term_sums(obs, tree, Term.parse(formula.element or ""), stratum)
    if formula.weight:
        weights, weights_named = _rolled_term(obs, Term.parse(formula.weight), tree, None)
    else:
        weights, weights_named = np.where(named, 1.0, np.nan), named
    rolled = _weighted_means(grid, values, named, weights, weights_named)[0]
    return rolled * formula.factor, np.full(grid.size, np.nan), weights


def _reported_cells(obs: ByElement, formula: Formula, tree: AreaTree, stratum: str | None):
    """A reported formula on the grid: the observation of each area and year as reported (its
    whole: stratum '', or the one stratum asked for), never summed or averaged upwards."""
    if not formula.element:
        raise ValueError("a reported formula without an element: resolve it with the plan first")
    term = Term(element=formula.element, strata=(stratum or "",))
    values, _ = _term_sums(obs, tree, term, None)
    nothing = np.full(obs.grid(tree)[0].size, np.nan)
    return values * formula.factor, nothing, nothing.copy()


def formula_values(
    obs: pd.DataFrame | ByElement, formula: Formula, tree: AreaTree, stratum: str | None = None
) -> pd.DataFrame:
    """value/numerator/denominator per (area_code, year) for one formula and stratum."""
    obs = ByElement.of(obs)
    grid = obs.grid(tree)[0]
    value, numerator, denominator = _formula_cells(obs, formula, tree, stratum)
    cells = np.flatnonzero(~np.isnan(value))
    index = pd.MultiIndex.from_arrays(
        [grid.area_codes(cells), grid.cell_years(cells)], names=["area_code", "year"]
    )
    columns = {"value": value, "numerator": numerator, "denominator": denominator}
    order = ["numerator", "denominator", "value"] if formula.kind == "ratio" else list(columns)
    return pd.DataFrame({c: columns[c][cells] for c in order}, index=index)


def indicator_values(plan: Plan, areas: Sequence[Area], observations: pd.DataFrame) -> pd.DataFrame:
    """Every computable indicator of a plan, for every area and year the observations allow."""
    missing = set(OBSERVATION_COLUMNS) - set(observations.columns)
    if missing:
        raise ValueError(f"observations lack columns {sorted(missing)}")
    tree = AreaTree(areas)
    in_tree = observations["area_code"].isin(tree.areas)
    obs = ByElement(observations if in_tree.all() else observations[in_tree])
    grid = obs.grid(tree)[0]
    computed = [_resolved(plan, ind) for ind in plan.indicators if ind.formula]
    results = []
    rows = 0
    for ind, done in zip(computed, _elements_done(computed), strict=True):
        result = _indicator_rows(ind, obs, tree)
        if result is not None:
            # labelled as in the concatenation of every indicator's rows, in this order
            result.columns["labels"] += rows
            rows += len(result)
            results.append(result)
        obs.forget(done)  # the observations shrink as the results grow
    del obs
    if not results:
        return pd.DataFrame(columns=INDICATOR_COLUMNS)
    return _frame(plan.id, grid, results)


def _resolved(plan: Plan, ind: Indicator) -> Indicator:
    """The indicator with its reported formula's element and strata spelled out: the plan's
    reported element, and a split target's strata (a reported value is read per stratum)."""
    f = ind.formula
    if f is None or f.kind != "reported":
        return ind
    split = f.split_by or (list(ind.target.strata) if ind.target.strata else None)
    formula = f.model_copy(update={"element": plan.reported_element(ind), "split_by": split})
    return ind.model_copy(update={"formula": formula})


SORT_KEY = ["number", "area_code", "year", "stratum"]


class _Rows:
    """One indicator's rows (or those of the indicators sharing a number): each row's cell,
    stratum (a position in ``strata``), value, numerator, denominator and label in the plan's
    result, as arrays."""

    def __init__(self, number: int, strata: list[str], **columns: np.ndarray):
        self.number, self.strata, self.columns = number, strata, columns

    def __len__(self) -> int:
        return len(self.columns["labels"])

    def sorted(self) -> _Rows:
        """The rows ordered by cell, then stratum; rows equal in both keep their order."""
        place = {s: i for i, s in enumerate(sorted(set(self.strata)))}
        rank = np.array([place[s] for s in self.strata])
        order = np.lexsort((rank[self.columns["stratum"]], self.columns["cells"]))
        return _Rows(self.number, self.strata, **{c: a[order] for c, a in self.columns.items()})

    def strata_in(self, strata: list[str]) -> np.ndarray:
        """Each row's stratum as a position in another list of strata."""
        at = {s: i for i, s in enumerate(strata)}
        return np.array([at[s] for s in self.strata], np.int16)[self.columns["stratum"]]

    @staticmethod
    def joined(parts: list[_Rows]) -> _Rows:
        """The rows of indicators sharing a number, one after the other (then sorted)."""
        strata = sorted({s for part in parts for s in part.strata})
        columns = {c: np.concatenate([p.columns[c] for p in parts]) for c in parts[0].columns}
        columns["stratum"] = np.concatenate([p.strata_in(strata) for p in parts])
        return _Rows(parts[0].number, strata, **columns)


def _indicator_rows(ind: Indicator, obs: ByElement, tree: AreaTree) -> _Rows | None:
    """An indicator's rows for the whole and each split stratum, sorted; None if it has none."""
    assert ind.formula is not None
    strata: list[str | None] = [None, *(ind.formula.split_by or [])]
    blocks = []
    for i, stratum in enumerate(strata):
        value, num, den = _formula_cells(obs, ind.formula, tree, stratum)
        cells = np.flatnonzero(~np.isnan(value))
        if len(cells):
            blocks.append(
                (cells, np.full(len(cells), i, np.int16), *(a[cells] for a in (value, num, den)))
            )
    if not blocks:
        return None
    names = ["cells", "stratum", "value", "numerator", "denominator"]
    columns = {c: np.concatenate(a) for c, a in zip(names, zip(*blocks, strict=True), strict=True)}
    columns["cells"] = columns["cells"].astype(
        np.int32 if obs.grid(tree)[0].size < 2**31 else np.int64
    )
    columns["labels"] = np.arange(len(columns["cells"]), dtype=np.int64)
    return _Rows(ind.number, [s or "" for s in strata], **columns).sorted()


def _frame(plan_id: str, grid: _Grid, results: list[_Rows]) -> pd.DataFrame:
    """The indicators' rows as one frame sorted by SORT_KEY, labels kept: what
    ``pd.concat(frames).sort_values(SORT_KEY)`` made of the indicators' frames (indicators
    sharing a number sorted jointly). Built a column at a time, each indicator's arrays let go
    as they are copied: the rows are held about once (Guilin at 4× the preset: ≈ 14 MB)."""
    by_number: dict[int, list[_Rows]] = {}
    for result in results:
        by_number.setdefault(int(result.number), []).append(result)
    results.clear()
    parts = [
        group[0] if len(group) == 1 else _Rows.joined(group).sorted()
        for _, group in sorted(by_number.items())
    ]
    del by_number
    sizes = [len(p) for p in parts]
    strata = sorted({s for part in parts for s in part.strata})
    for part in parts:
        part.columns["stratum"] = part.strata_in(strata)

    def column(name: str) -> np.ndarray:
        out = np.concatenate([p.columns[name] for p in parts])
        for part in parts:
            del part.columns[name]
        return out

    out = pd.DataFrame(index=pd.RangeIndex(sum(sizes)))
    out["plan_id"] = pd.array([plan_id], dtype="str").take(np.zeros(len(out), np.intp))
    out["number"] = np.repeat(np.array([p.number for p in parts], np.int64), sizes)
    cells = column("cells")
    out["area_code"] = grid.area_codes(cells)
    out["year"] = grid.cell_years(cells).astype(np.int64)
    del cells
    out["stratum"] = pd.array(strata, dtype="str").take(column("stratum"))
    for name in ("value", "numerator", "denominator"):
        out[name] = column(name)
    labels = column("labels")
    in_order = bool((labels == np.arange(len(labels))).all())  # as pandas appends ranges
    out.index = pd.RangeIndex(len(labels)) if in_order else pd.Index(labels)
    return out


def _elements_done(indicators: list[Indicator]) -> list[set[str]]:
    """Per indicator, the elements no later indicator's formula reads."""
    last = {e: i for i, ind in enumerate(indicators) for e in _read_by(ind.formula)}
    done: list[set[str]] = [set() for _ in indicators]
    for element, i in last.items():
        done[i].add(element)
    return done


def _read_by(formula: Formula) -> set[str]:
    """The elements a (resolved) formula reads."""
    if formula.kind == "reported":
        return {formula.element} if formula.element else set()
    return formula.elements()
