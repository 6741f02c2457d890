"""Plan indicators from observations, by the formulas in the plan definitions.

Counts are summed up the area hierarchy and the factor applies last, so a city's rate is never an
average of its counties' rates. Pure: DataFrames and plan models in, a DataFrame out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase

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
        self.rolled: dict[tuple, pd.Series] = {}

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
        self.rolled = {k: v for k, v in self.rolled.items() if k[1] not in gone}


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


def _element_rows(obs: pd.DataFrame | ByElement, element: str) -> pd.DataFrame | None:
    if isinstance(obs, ByElement):
        return obs.get(element)
    return obs[obs["element"] == element]


def term_values(
    obs: pd.DataFrame | ByElement, term: Term, only_stratum: str | None = None
) -> pd.Series:
    """Observed values of one term summed over its matching strata, per (area_code, year)."""
    sel = _element_rows(obs, term.element)
    if sel is None or sel.empty:
        return pd.Series(dtype="float64", index=_empty_index())
    strata = sel["stratum"].astype(str)
    if term.strata is not None or only_stratum is not None:
        wanted = {
            s: _matches(s, term.strata)
            and (only_stratum is None or s == only_stratum or s.endswith(":" + only_stratum))
            for s in strata.unique()
        }
        sel = sel[strata.map(wanted).astype(bool).to_numpy()]
    if sel.empty:
        return pd.Series(dtype="float64", index=_empty_index())
    return sel.groupby(["area_code", "year"])["value"].sum(min_count=1)


def _rolled_term(obs: ByElement, term: Term, tree: AreaTree, stratum: str | None) -> pd.Series:
    """roll_up_sum(term_values(...)), computed once per term and stratum."""
    key = (id(tree), term.element, term.strata, stratum)
    if key not in obs.rolled:
        obs.rolled[key] = roll_up_sum(term_values(obs, term, stratum), tree)
    return obs.rolled[key]


def _empty_index() -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([[], []], names=["area_code", "year"])


def roll_up_sum(values: pd.Series, tree: AreaTree) -> pd.Series:
    """Each area's value: the sum of its children's where any child has data, else its own."""
    if values.empty:
        return values
    result = values.sort_index()
    for level in tree.levels_deepest_first():
        in_level = result.index.get_level_values("area_code").isin(level)
        if not in_level.any():
            continue
        at_level = result[in_level]
        parents = at_level.index.get_level_values("area_code").map(tree.parent.get)
        has_parent = parents.notna()
        if not has_parent.any():
            continue
        child = at_level[np.asarray(has_parent)]
        sums = child.groupby([parents[has_parent], child.index.get_level_values("year")]).sum(
            min_count=1
        )
        sums.index = sums.index.set_names(["area_code", "year"])
        # sums.combine_first(result) without aligning the whole series: a sum replaces the
        # area's own value unless the sum is missing and the area has a value of its own
        take = sums[~(sums.isna().to_numpy() & sums.index.isin(result.index))]
        result = pd.concat([result[~result.index.isin(take.index)], take]).sort_index()
    return result


def roll_up_weighted(values: pd.Series, weights: pd.Series, tree: AreaTree) -> pd.Series:
    """Reported measures upward: an area's own report wins, else children's weighted mean."""
    if values.empty:
        return values
    result = values.copy()
    w_rolled = roll_up_sum(weights, tree) if not weights.empty else weights
    for level in tree.levels_deepest_first():
        at_level = result[result.index.get_level_values("area_code").isin(level)]
        parents = at_level.index.get_level_values("area_code").map(tree.parent.get)
        has_parent = np.asarray(parents.notna())
        if not has_parent.any():
            continue
        child = at_level[has_parent]
        w = w_rolled.reindex(child.index)
        ok = w.notna() & child.notna()
        child, w = child[ok], w[ok]
        if child.empty:
            continue
        keys = [parents[has_parent][np.asarray(ok)], child.index.get_level_values("year")]
        num = (child * w).groupby(keys).sum()
        den = w.groupby(keys).sum()
        means = (num / den).replace([np.inf, -np.inf], np.nan).dropna()
        means.index = means.index.set_names(["area_code", "year"])
        result = result.combine_first(means)
    return result.sort_index()


def _sum_terms(obs: ByElement, terms: list[Term], tree: AreaTree, stratum: str | None):
    """All terms summed; an (area, year) is missing unless every term has a value there."""
    parts = [_rolled_term(obs, t, tree, stratum) for t in terms]
    if any(p.empty for p in parts):
        return pd.Series(dtype="float64", index=_empty_index())
    frame = pd.concat(parts, axis=1, join="inner")
    return frame.sum(axis=1, min_count=len(parts))


def formula_values(
    obs: pd.DataFrame | ByElement, formula: Formula, tree: AreaTree, stratum: str | None = None
) -> pd.DataFrame:
    """value/numerator/denominator per (area_code, year) for one formula and stratum."""
    obs = ByElement.of(obs)
    if formula.kind == "ratio":
        num = _sum_terms(obs, formula.numerator_terms, tree, stratum)
        den = _sum_terms(obs, formula.denominator_terms, tree, stratum)
        frame = pd.concat({"numerator": num, "denominator": den}, axis=1, join="inner")
        den_ok = frame["denominator"].where(frame["denominator"] != 0)
        frame["value"] = formula.factor * frame["numerator"] / den_ok
        return frame.dropna(subset=["value"])
    element = Term.parse(formula.element or "")
    values = term_values(obs, element, stratum)
    weights = (
        _rolled_term(obs, Term.parse(formula.weight), tree, None)
        if formula.weight
        else pd.Series(1.0, index=values.index)
    )
    rolled = roll_up_weighted(values, weights, tree)
    frame = pd.DataFrame({"value": rolled * formula.factor})
    frame["numerator"] = np.nan
    frame["denominator"] = weights.reindex(frame.index)
    return frame.dropna(subset=["value"])


def indicator_values(plan: Plan, areas: Sequence[Area], observations: pd.DataFrame) -> pd.DataFrame:
    """Every computable indicator of a plan, for every area and year the observations allow."""
    missing = set(OBSERVATION_COLUMNS) - set(observations.columns)
    if missing:
        raise ValueError(f"observations lack columns {sorted(missing)}")
    tree = AreaTree(areas)
    in_tree = observations["area_code"].isin(tree.areas)
    obs = ByElement(observations if in_tree.all() else observations[in_tree])
    computed = [ind for ind in plan.indicators if ind.formula]
    frames = []
    rows = 0
    for ind, done in zip(computed, _elements_done(computed), strict=True):
        frame = _one_indicator(plan.id, ind, obs, tree)
        if not frame.empty:
            # labelled as in the concatenation of every indicator's rows, in this order
            frame.index = pd.RangeIndex(rows, rows + len(frame))
            rows += len(frame)
            frames.append(_sorted(frame))
        obs.forget(done)  # the observations shrink as the results grow
    del obs
    if not frames:
        return pd.DataFrame(columns=INDICATOR_COLUMNS)
    return _concatenated(frames)


SORT_KEY = ["number", "area_code", "year", "stratum"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """An indicator's rows as the plan's result holds them: its columns, sorted."""
    frame = frame[INDICATOR_COLUMNS].sort_values(SORT_KEY)
    frame["year"] = frame["year"].astype("int64")
    frame["number"] = frame["number"].astype("int64")
    return frame


def _concatenated(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The indicators' sorted rows as one frame sorted by SORT_KEY, labels kept: what
    ``pd.concat(frames).sort_values(SORT_KEY)`` makes, built a column at a time in the
    order of the numbers, so the rows are never held three times (the indicators', their
    concatenation, its sorted copy: Guilin at 4× the preset, ≈ 24 MB more)."""
    by_number: dict[int, list[pd.DataFrame]] = {}
    for frame in frames:
        by_number.setdefault(int(frame["number"].iat[0]), []).append(frame)
    frames.clear()
    parts: dict[str, list[pd.Series]] = {c: [] for c in INDICATOR_COLUMNS}
    labels = []
    for number in sorted(by_number):
        group = by_number.pop(number)
        rows = group[0] if len(group) == 1 else _sorted(pd.concat(group))  # numbers shared
        del group
        labels.append(rows.index)
        for column in INDICATOR_COLUMNS:
            parts[column].append(rows[column])
        del rows
    columns = {c: pd.concat(parts.pop(c), ignore_index=True) for c in INDICATOR_COLUMNS}
    out = pd.DataFrame(columns, copy=False)
    out.index = labels[0].append(labels[1:])
    return out


def _elements_done(indicators: list[Indicator]) -> list[set[str]]:
    """Per indicator, the elements no later indicator's formula reads."""
    last = {e: i for i, ind in enumerate(indicators) for e in ind.formula.elements()}
    done: list[set[str]] = [set() for _ in indicators]
    for element, i in last.items():
        done[i].add(element)
    return done


def _one_indicator(plan_id: str, ind: Indicator, obs: ByElement, tree: AreaTree):
    assert ind.formula is not None
    strata: list[str | None] = [None, *(ind.formula.split_by or [])]
    frames = []
    for stratum in strata:
        f = formula_values(obs, ind.formula, tree, stratum)
        if f.empty:
            continue
        f = f.reset_index()
        f["stratum"] = stratum or ""
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=INDICATOR_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["plan_id"] = plan_id
    out["number"] = ind.number
    return out
