"""Source layouts as data: how each source's yearly file maps onto areas, years and data elements.

A bureau receives one file per source per year, each source with its own layout, and report forms
rename their columns now and then. Every layout lives in ``plans/sources/<source>.yaml``; this
module only knows their shape and checks them against the data elements. A malformed file is
rejected with a message naming the file and the field.

File format (one source per file)::

    source: population                 # matches DataElement.source
    name_zh: 人口统计年报
    publisher_zh: 统计局
    layouts:
    - id: population_v1
      years: [2010, null]              # from, to (null = open)
      format: csv                      # csv | xlsx
      header_row: 1                    # 1-based, as a spreadsheet shows it
      shape: long                      # long: one row per area and year
      columns:                         # header text → field name, element code, or a mapping
        行政区划代码: area_code
        年份: year
        常住人口（万人）: {element: pop_resident, scale: 10000}
        男婴出生数: {element: births, stratum: male, required: false}

Headers are compared after NFKC normalisation with all white space removed, so ``（万人）`` and
``(万人)`` or a header broken over two lines in a cell are the same column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthplan.definitions import DataElement, DefinitionError, _read_yaml, _validate

FieldName = Literal[
    "area_code", "area_name", "year", "facility_id", "facility_name", "ownership", "type"
]
FIELD_NAMES: tuple[str, ...] = FieldName.__args__  # type: ignore[attr-defined]
# Fields whose cell must hold a value (when the layout maps the column).
VALUE_REQUIRED_FIELDS = ("area_code", "year", "facility_id", "ownership", "type")
FACILITY_FIELDS = ("facility_id", "facility_name", "ownership", "type")
OWNERSHIPS = ("public", "private")
FACILITY_TYPES = ("hospital", "tcm_hospital", "chc", "chs", "thc", "village", "clinic", "phi")
FACILITY_STRATUM = "<ownership>:<type>"
# Flag cells (是/否) understood without a value map; a layout may add its own under 'flag'.
DEFAULT_FLAG_MAP = {
    "是": "1",
    "否": "0",
    "1": "1",
    "0": "0",
    "有": "1",
    "无": "0",
    "y": "1",
    "n": "0",
    "yes": "1",
    "no": "0",
    "true": "1",
    "false": "0",
    "√": "1",
    "×": "0",
}


def normalize_header(text: Any) -> str:
    """A header cell as compared: NFKC (full-width → half-width), no white space, ASCII lower."""
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    s = unicodedata.normalize("NFKC", str(text))
    return "".join(s.split()).lower()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Strict):
    """What one column holds: a field of the row, or a data element (with stratum and unit)."""

    field: FieldName | None = None
    element: str | None = None
    stratum: str | None = Field(default=None, description="long shape: stratum of the values")
    scale: Annotated[float, Field(gt=0)] = Field(
        default=1.0, description="multiplier to the element's unit, e.g. 万人 → 人: 10000"
    )
    percent: bool = Field(default=False, description="values are shares in %, 0–100")
    flag: bool = Field(default=False, description="facility shape: 是/否 cells counted")
    required: bool = Field(default=True, description="the header must be present to match")
    aliases: list[str] = Field(default_factory=list, description="other spellings of the header")

    @model_validator(mode="after")
    def _one_role(self) -> Column:
        if (self.field is None) == (self.element is None):
            raise ValueError("a column maps to exactly one of 'field' or 'element'")
        if self.field is not None:
            defaults = {"stratum": None, "scale": 1.0, "percent": False, "flag": False}
            extras = [k for k, d in defaults.items() if getattr(self, k) != d]
            if extras:
                raise ValueError(f"a field column takes no {extras}")
        if self.flag and (self.percent or self.scale != 1.0):
            raise ValueError("a flag column takes no scale or percent")
        return self

    @property
    def is_field(self) -> bool:
        return self.field is not None


def _column_from_shorthand(value: Any) -> Any:
    """'area_code' → a field column; 'pop_resident' → an element column; mappings as they are."""
    if isinstance(value, str):
        return {"field": value} if value in FIELD_NAMES else {"element": value}
    return value


class Layout(Strict):
    """One version of a source's file layout, valid for a range of data years."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    years: tuple[int, int | None]
    format: Literal["csv", "xlsx"]
    sheet: str | None = Field(
        default=None, description="xlsx: sheet name (default, or when it is absent: the first)"
    )
    header_row: Annotated[int, Field(ge=1)] = 1
    shape: Literal["long", "facility"]
    year_from_filename: str | None = Field(
        default=None,
        description="regex whose first group (or group 'year') is the data year, when no column "
        "holds it",
    )
    facility_count_element: str | None = Field(
        default=None, description="facility shape: the element counting facilities"
    )
    value_maps: dict[Literal["ownership", "type", "flag"], dict[str, str]] = Field(
        default_factory=dict, description="source codes → our codes, e.g. 公立 → public"
    )
    columns: dict[str, Column]
    notes: str | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): _column_from_shorthand(c) for k, c in v.items()}
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Layout:
        start, end = self.years
        if end is not None and end < start:
            raise ValueError(f"years: {start} is after {end}")
        if self.format == "csv" and self.sheet:
            raise ValueError("sheet: only an xlsx layout has sheets")
        seen: dict[str, str] = {}
        for header, col in self.columns.items():
            for name in (header, *col.aliases):
                key = normalize_header(name)
                if not key:
                    raise ValueError(f"columns: an empty header ({header!r})")
                if key in seen:
                    raise ValueError(f"columns: {name!r} and {seen[key]!r} are the same header")
                seen[key] = name
        fields = [c.field for c in self.columns.values() if c.field]
        dup = sorted({f for f in fields if fields.count(f) > 1})
        if dup:
            raise ValueError(f"columns: fields mapped twice: {dup}")
        if "area_code" not in fields:
            raise ValueError("columns: no column maps to field 'area_code'")
        if "year" not in fields and not self.year_from_filename:
            raise ValueError("no column maps to field 'year' and no year_from_filename is given")
        year_col = self.field_column("year")
        if year_col is not None and not year_col[1].required and not self.year_from_filename:
            raise ValueError("an optional year column needs year_from_filename as a fallback")
        if self.year_from_filename:
            try:
                rx = re.compile(self.year_from_filename)
            except re.error as e:
                raise ValueError(f"year_from_filename: not a regex: {e}") from None
            if rx.groups < 1:
                raise ValueError("year_from_filename: needs a group around the year")
        if self.shape == "long":
            bad = sorted(set(fields) & set(FACILITY_FIELDS))
            if bad:
                raise ValueError(f"a long layout has no facility fields: {bad}")
            keys = [(c.element, c.stratum) for c in self.columns.values() if c.element]
            dup_keys = sorted({f"{e}[{s or ''}]" for e, s in keys if keys.count((e, s)) > 1})
            if dup_keys:
                raise ValueError(f"columns: element and stratum mapped twice: {dup_keys}")
            if any(c.flag for c in self.columns.values()):
                raise ValueError("flag columns belong to facility layouts")
            if self.facility_count_element:
                raise ValueError("facility_count_element belongs to facility layouts")
        else:
            missing = [f for f in ("facility_id", "ownership", "type") if f not in fields]
            if missing:
                raise ValueError(f"a facility layout needs columns for fields {missing}")
            if not self.facility_count_element:
                raise ValueError("a facility layout needs facility_count_element")
            for header, c in self.columns.items():
                if c.stratum:
                    raise ValueError(
                        f"columns.{header}: a facility layout derives the stratum "
                        f"'{FACILITY_STRATUM}'; give no stratum"
                    )
            for what, allowed in (("ownership", OWNERSHIPS), ("type", FACILITY_TYPES)):
                mapping = self.value_maps.get(what)  # type: ignore[call-overload]
                if not mapping:
                    raise ValueError(f"value_maps.{what}: a facility layout needs it")
                wrong = sorted({v for v in mapping.values() if v not in allowed})
                if wrong:
                    raise ValueError(f"value_maps.{what}: unknown values {wrong}; known: {allowed}")
            elements = [c.element for c in self.columns.values() if c.element]
            if self.facility_count_element in elements:
                raise ValueError("facility_count_element is counted, not read from a column")
        flag_map = self.value_maps.get("flag", {})  # type: ignore[call-overload]
        wrong = sorted({v for v in flag_map.values() if v not in ("0", "1")})
        if wrong:
            raise ValueError(f"value_maps.flag: values must be '1' or '0', got {wrong}")
        return self

    # ------------------------------------------------------------------ helpers for the parser

    def covers(self, year: int) -> bool:
        start, end = self.years
        return year >= start and (end is None or year <= end)

    @property
    def years_text(self) -> str:
        start, end = self.years
        return f"{start}–{end if end is not None else ''}"

    def field_column(self, name: str) -> tuple[str, Column] | None:
        for header, col in self.columns.items():
            if col.field == name:
                return header, col
        return None

    def element_codes(self) -> set[str]:
        codes = {c.element for c in self.columns.values() if c.element}
        if self.facility_count_element:
            codes.add(self.facility_count_element)
        return codes

    def header_keys(self, header: str) -> list[str]:
        col = self.columns[header]
        return [normalize_header(n) for n in (header, *col.aliases)]

    def required_headers(self) -> list[str]:
        return [h for h, c in self.columns.items() if c.required]


class SourceLayouts(Strict):
    """Every layout one source has used."""

    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    publisher_zh: str
    name_en: str | None = None
    notes: str | None = None
    layouts: Annotated[list[Layout], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> SourceLayouts:
        ids = [lay.id for lay in self.layouts]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"layout ids repeat: {dup}")
        for i, a in enumerate(self.layouts):
            for b in self.layouts[i + 1 :]:
                same_header = {normalize_header(h) for h in a.required_headers()} == {
                    normalize_header(h) for h in b.required_headers()
                }
                if same_header and a.format == b.format and _overlap(a.years, b.years):
                    raise ValueError(
                        f"layouts {a.id} and {b.id} have the same required columns and "
                        f"overlapping years: a file could match both"
                    )
        return self


def _overlap(a: tuple[int, int | None], b: tuple[int, int | None]) -> bool:
    a_end = a[1] if a[1] is not None else 10**6
    b_end = b[1] if b[1] is not None else 10**6
    return a[0] <= b_end and b[0] <= a_end


class LayoutSet:
    """The layouts of every source, checked against the data elements."""

    def __init__(self, sources: Mapping[str, SourceLayouts], files: list[Path] | None = None):
        self.sources: dict[str, SourceLayouts] = dict(sources)
        self.files = list(files or [])
        ids = [lay.id for s in self.sources.values() for lay in s.layouts]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise DefinitionError(f"layout ids used by more than one source: {dup}")

    def __iter__(self) -> Iterator[tuple[SourceLayouts, Layout]]:
        for s in self.sources.values():
            for lay in s.layouts:
                yield s, lay

    def __len__(self) -> int:
        return sum(len(s.layouts) for s in self.sources.values())

    def layout(self, layout_id: str) -> tuple[SourceLayouts, Layout]:
        for s, lay in self:
            if lay.id == layout_id:
                return s, lay
        raise KeyError(f"unknown layout {layout_id!r}")

    def layout_for(self, source: str, year: int) -> Layout:
        """The layout a source's file for a given year is written in."""
        if source not in self.sources:
            raise KeyError(f"no layouts for source {source!r}")
        for lay in self.sources[source].layouts:
            if lay.covers(year):
                return lay
        raise KeyError(f"source {source!r} has no layout covering {year}")

    def covered_elements(self, source: str | None = None) -> set[str]:
        return {
            code
            for s, lay in self
            if source is None or s.source == source
            for code in lay.element_codes()
        }


def element_problems(src: SourceLayouts, elements: Mapping[str, DataElement]) -> list[str]:
    """Every way the layouts disagree with the data elements, as 'field …: problem' texts."""
    problems = []
    for i, lay in enumerate(src.layouts):
        where = f"layouts.{i}"
        targets: list[tuple[str, str, Column | None]] = [
            (f"{where}.columns.{h}.element", c.element, c)
            for h, c in lay.columns.items()
            if c.element
        ]
        if lay.facility_count_element:
            targets.append((f"{where}.facility_count_element", lay.facility_count_element, None))
        for field, code, col in targets:
            el = elements.get(code)
            if el is None:
                problems.append(f"field {field}: unknown data element {code!r}")
                continue
            if el.source != src.source:
                problems.append(
                    f"field {field}: data element {code!r} belongs to source {el.source!r}, "
                    f"not {src.source!r} (two sources must not write the same observations)"
                )
            if lay.shape == "facility":
                if FACILITY_STRATUM not in el.strata:
                    problems.append(
                        f"field {field}: data element {code!r} has no stratum "
                        f"'{FACILITY_STRATUM}' (its strata: {el.strata})"
                    )
                if col is not None and col.flag and el.kind != "count":
                    problems.append(f"field {field}: a flag column counts into a count element")
            elif col is not None and col.stratum is not None and col.stratum not in el.strata:
                problems.append(
                    f"field {field}: stratum {col.stratum!r} is not one of {code!r}'s "
                    f"strata {el.strata}"
                )
            elif col is not None and col.stratum is None and FACILITY_STRATUM in el.strata:
                problems.append(
                    f"field {field}: {code!r} is reported per facility type "
                    f"('{FACILITY_STRATUM}'); a long layout must give a stratum"
                )
    return problems


def load_source_layouts(path: Path, elements: Mapping[str, DataElement]) -> SourceLayouts:
    src = _validate(SourceLayouts, _read_yaml(path), path)
    if src.source != path.stem:
        raise DefinitionError(
            f"{path}: field source: {src.source!r} differs from the file name {path.stem!r}"
        )
    problems = element_problems(src, elements)
    if problems:
        raise DefinitionError(f"{path}: " + "; ".join(problems))
    return src


def load_layouts(
    sources_dir: Path | None = None, elements: Mapping[str, DataElement] | None = None
) -> LayoutSet:
    """Every ``<source>.yaml`` under the sources folder, validated against the data elements.

    Defaults: ``<plans_dir>/sources`` and the elements of the plan catalog from the settings.
    """
    if sources_dir is None or elements is None:
        from healthplan.definitions import load_catalog
        from healthplan.settings import get_settings

        plans_dir = get_settings().plans_dir
        if sources_dir is None:
            sources_dir = Path(plans_dir) / "sources"
        if elements is None:
            elements = load_catalog(plans_dir).elements
    sources_dir = Path(sources_dir)
    if not sources_dir.is_dir():
        raise DefinitionError(f"{sources_dir}: no such folder of source layouts")
    sources: dict[str, SourceLayouts] = {}
    files = sorted(sources_dir.glob("*.yaml"))
    for path in files:
        src = load_source_layouts(path, elements)
        sources[src.source] = src
    try:
        return LayoutSet(sources, files)
    except DefinitionError as e:
        raise DefinitionError(f"{sources_dir}: {e}") from None
