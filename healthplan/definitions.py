"""Plan knowledge as data: the validated models for plans, indicators, areas and data elements.

Everything the pipeline knows about a particular plan, place or year comes from the YAML files
under the plans folder; this module only knows their shape. A malformed file is rejected with a
message naming the file and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Comparator = Literal["reach", ">=", ">", "<=", "<", "about", "relative", "qualitative", "split"]
PLAIN_COMPARATORS = ("reach", ">=", ">", "<=", "<", "about")
Direction = Literal["higher", "lower"]
Attribute = Literal["预期性", "约束性", "指导性"]
AreaLevel = Literal["city", "district", "county", "town", "street"]
# The level an indicator is judged at: the whole jurisdiction, every county/district, every town/street.
JudgedLevel = Literal["area", "county", "town"]
UNIT_LEVELS: dict[str, tuple[str, ...]] = {
    "area": (),
    "county": ("district", "county"),
    "town": ("town", "street"),
}


class DefinitionError(ValueError):
    """A definition file that cannot be used; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- data elements and areas


class Area(Strict):
    code: Annotated[str, Field(pattern=r"^[0-9A-Za-z]+$")]
    name_zh: str
    name_en: str
    level: AreaLevel
    parent: str | None = None


class AreaSet(Strict):
    """The areas of one jurisdiction, root first."""

    jurisdiction: str
    areas: list[Area]

    @model_validator(mode="after")
    def _tree(self) -> AreaSet:
        codes = [a.code for a in self.areas]
        if len(set(codes)) != len(codes):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            raise ValueError(f"duplicate area codes: {dup}")
        if self.jurisdiction not in codes:
            raise ValueError(f"jurisdiction {self.jurisdiction} is not among the areas")
        for a in self.areas:
            if a.code != self.jurisdiction and a.parent not in codes:
                raise ValueError(f"area {a.code}: parent {a.parent!r} is not a known area")
        return self


# ---------------------------------------------------------------- targets and formulas


class StratumTarget(Strict):
    label_zh: str
    comparator: Literal["reach", ">=", ">", "<=", "<", "about"]
    value: float
    tolerance: float | None = None


class OtherReading(Strict):
    """The other way to read a target printed both as a rule and as a figure (在2015年基础上
    提高1岁（桂林78岁）): not judged, shown beside the target and in the data-quality annex."""

    comparator: Comparator
    value: float | None = None
    delta: float | None = Field(default=None, description="'relative': change on the baseline")
    note_zh: str = Field(description="why this reading is not the one judged, in Chinese")


class Target(Strict):
    """The plan's target for its target year, with the comparator as evaluation.md defines it."""

    text: str = Field(description="the target exactly as the plan prints it")
    comparator: Comparator
    value: float | None = None
    year: int
    tolerance: float | None = Field(default=None, description="'about': share of the target")
    delta: float | None = Field(default=None, description="'relative': change on the baseline")
    strata: dict[str, StratumTarget] | None = None
    note_zh: str | None = None
    other_reading: OtherReading | None = Field(
        default=None, description="a second reading of a double-printed target, not judged"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        c = self.comparator
        if c in PLAIN_COMPARATORS and self.value is None:
            raise ValueError(f"comparator {c!r} needs a value")
        if c == "relative" and self.delta is None:
            raise ValueError("comparator 'relative' needs a delta")
        if c == "split" and not self.strata:
            raise ValueError("comparator 'split' needs strata")
        if c != "split" and self.strata:
            raise ValueError("only comparator 'split' takes strata")
        if c == "qualitative" and self.value is not None:
            raise ValueError("a qualitative target has no value")
        if self.tolerance is not None and c != "about":
            raise ValueError("only comparator 'about' takes a tolerance")
        return self


TERM = re.compile(r"^(?P<element>[a-z][a-z0-9_]*)(?:\[(?P<strata>[^\]]*)\])?$")


class Term(Strict):
    """One data element, optionally restricted to strata (fnmatch patterns such as 'public:*')."""

    element: str
    strata: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> Term:
        m = TERM.match(text.strip())
        if not m:
            raise ValueError(f"bad term {text!r}: expected 'element' or 'element[pattern,...]'")
        strata = m.group("strata")
        patterns = tuple(s.strip() for s in strata.split(",") if s.strip()) if strata else None
        return cls(element=m.group("element"), strata=patterns)

    def __str__(self) -> str:
        return self.element + (f"[{','.join(self.strata)}]" if self.strata else "")


def reported_element(plan_id: str, number: int) -> str:
    """The data element an indicator's reported value (monitoring sheet) is stored under when
    its formula names none: one per plan and indicator, defined implicitly by the catalog."""
    return f"{plan_id}_reported_{number}"


class Formula(Strict):
    """How an indicator comes from data elements.

    ratio:  factor * sum(numerator) / sum(denominator), both summed up the area hierarchy;
    direct: the element as reported, aggregated upwards as a mean weighted by `weight`;
    reported: the value as the bureau reports it (its indicator monitoring sheet), per area and
        year, never aggregated; `element` optional (default ``reported_element(plan, number)``,
        defined implicitly from the indicator's name and unit);
    split_by: compute the indicator separately per stratum of the given dimension (split targets).
    """

    kind: Literal["ratio", "direct", "reported"]
    numerator: list[str] = Field(default_factory=list)
    denominator: list[str] = Field(default_factory=list)
    factor: float = 1.0
    element: str | None = None
    weight: str | None = None
    split_by: list[str] | None = Field(
        default=None, description="strata computed separately, e.g. ['rural', 'urban']"
    )

    @model_validator(mode="after")
    def _shape(self) -> Formula:
        if self.kind == "ratio":
            if not self.numerator or not self.denominator:
                raise ValueError("a ratio needs numerator and denominator terms")
            if self.element is not None:
                raise ValueError("a ratio takes no 'element'")
        elif self.kind == "reported":
            if self.numerator or self.denominator or self.weight:
                raise ValueError("a reported formula takes no numerator/denominator/weight")
            if self.element is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", self.element):
                raise ValueError(f"bad element {self.element!r}: expected a data element code")
        else:
            if not self.element:
                raise ValueError("a direct formula needs 'element'")
            if self.numerator or self.denominator:
                raise ValueError("a direct formula takes no numerator/denominator")
        for t in [*self.numerator, *self.denominator, *filter(None, [self.element, self.weight])]:
            Term.parse(t)
        return self

    @cached_property
    def numerator_terms(self) -> list[Term]:
        return [Term.parse(t) for t in self.numerator]

    @cached_property
    def denominator_terms(self) -> list[Term]:
        return [Term.parse(t) for t in self.denominator]

    def elements(self) -> set[str]:
        """The data elements elements.yaml must define (a reported formula's element is defined
        implicitly when none does: see ``Plan.reported_element``)."""
        if self.kind == "reported":
            return set()
        terms = [*self.numerator, *self.denominator, *filter(None, [self.element, self.weight])]
        return {Term.parse(t).element for t in terms}


class DataElement(Strict):
    """A raw statistic a source reports, e.g. resident population or registered nurses."""

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name_zh: str
    name_en: str
    unit: str
    source: str = Field(description="code of the source that reports it, e.g. 'population'")
    kind: Literal["count", "amount", "rate", "measure", "flag"] = "count"
    strata: list[str] = Field(default_factory=list, description="stratum values it may carry")
    min: float | None = 0.0
    max: float | None = None
    recompute: Formula | None = Field(
        default=None, description="a reported rate: how to recompute it from its parts, for checks"
    )


class Figure(Strict):
    """A number as a plan states it, with the year and the words around it."""

    value: float | None
    year: int | None = None
    text: str | None = Field(default=None, description="as printed, e.g. '＞95' or '1:0.89'")


class TextFigure(Strict):
    """A figure the plan's body text states for an indicator, differing from its table."""

    value: float
    year: int
    sentence: str
    unit_note: str | None = None


class Inference(Strict):
    """A value the definition infers rather than reads from the plan's table, and why."""

    field: str = Field(description="the indicator field inferred, e.g. 'baseline', 'target'")
    why_zh: str
    why_en: str | None = None


class ReviewItem(Strict):
    """Something `plan import` guessed and a person must confirm (`plan validate` warns)."""

    field: str
    why_zh: str
    why_en: str | None = None


class ValueRange(Strict):
    """What the quantity allows (a rate is never below 0, a share never above 100 %)."""

    min: float | None = None
    max: float | None = None


# What a quantity allows, by its unit, unless the indicator states its own ``value_range``:
# a share in % lies in [0, 100], one in ‰ in [0, 1000]; every other unit (rates per
# population, days, years, yuan, counts, ratios) is never negative.
UNIT_RANGES: dict[str, ValueRange] = {
    "%": ValueRange(min=0.0, max=100.0),
    "‰": ValueRange(min=0.0, max=1000.0),
}
DEFAULT_RANGE = ValueRange(min=0.0, max=None)

# How a ratio's factor must match its unit: the unit's last word names the scale.
UNIT_FACTORS: tuple[tuple[str, float], ...] = (
    ("%", 100.0),
    ("‰", 1000.0),
    ("10万", 100_000.0),
    ("万", 10_000.0),
    ("千", 1000.0),
)


def unit_factor(unit: str) -> float | None:
    """The factor a ratio in ``unit`` must carry, or None when the unit names no scale."""
    for mark, factor in UNIT_FACTORS:
        if mark in unit:
            return factor
    return None


class Indicator(Strict):
    number: int
    category_zh: str
    category_en: str
    name_zh: str = Field(description="verbatim from the plan's table")
    name_en: str
    unit: str
    direction: Direction
    baseline: Figure | None = Field(description="as the table states it; None when it shows '-'")
    baseline_source: Literal["table", "text"] = "table"
    baseline_sentence: str | None = None
    target: Target
    attribute: Attribute | None = None
    attribute_from_merged_cell: bool = False
    target_from_merged_cell: bool = False
    level: JudgedLevel = "area"
    formula: Formula | None = Field(description="None: reported directly by no source we hold")
    text_figures: list[TextFigure] = Field(default_factory=list)
    decimals: int = 2
    notes: str | None = None
    value_range: ValueRange | None = Field(
        default=None, description="what the quantity allows; None: from its unit (UNIT_RANGES)"
    )
    inferred: list[Inference] = Field(
        default_factory=list, description="values inferred beyond the flags above, and why"
    )
    review_needed: list[ReviewItem] = Field(default_factory=list)

    @property
    def sign(self) -> int:
        return 1 if self.direction == "higher" else -1

    @property
    def allowed_range(self) -> ValueRange:
        """The range the quantity allows: the indicator's own, else its unit's."""
        if self.value_range is not None:
            return self.value_range
        return UNIT_RANGES.get(self.unit.strip(), DEFAULT_RANGE)

    def inferences(self) -> list[dict]:
        """Every value the definition infers rather than reads from the plan's table, as
        {field, why, why_en}: from the flags (merged cells, baseline from the body text, a
        target with two readings) and the explicit ``inferred`` entries."""
        out = []
        if self.attribute_from_merged_cell:
            out.append(
                {
                    "field": "attribute",
                    "why": "指标属性单元格空白，取自表中上方的合并单元格",
                    "why_en": "attribute cell blank; taken from the merged cell above",
                }
            )
        if self.target_from_merged_cell:
            out.append(
                {
                    "field": "target",
                    "why": "目标单元格空白，取自表中上方的合并单元格",
                    "why_en": "target cell blank; taken from the merged cell above",
                }
            )
        if self.baseline_source == "text" and self.baseline is not None:
            out.append(
                {
                    "field": "baseline",
                    "why": "规划表未列基期值，取自规划正文",
                    "why_en": "the plan's table gives no baseline; read from the body text",
                }
            )
        if self.target.other_reading is not None:
            out.append(
                {
                    "field": "target",
                    "why": self.target.other_reading.note_zh,
                    "why_en": "target printed both as a rule and as a figure; the figure is judged",
                }
            )
        out += [{"field": i.field, "why": i.why_zh, "why_en": i.why_en} for i in self.inferred]
        return out


class TextGoal(Strict):
    """A quantified goal stated only in the plan's body text; ``code`` (T1, T2 …) names it in
    reviews and outputs, so that it stays the same when goals are added or reordered."""

    code: Annotated[str, Field(pattern=r"^T[1-9][0-9]*$")]
    name_zh: str
    name_en: str
    unit: str
    direction: Direction
    target: Target
    sentence: str
    related_indicator: int | None = None


class Plan(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title_zh: str
    title_en: str
    short_title_zh: str
    jurisdiction: str
    issuing_body_zh: str
    period_start: int
    period_end: int
    baseline_year: int
    target_year: int
    mid_term_year: int
    source_document: str | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    review_needed: list[ReviewItem] = Field(default_factory=list)
    indicators: list[Indicator]
    text_goals: list[TextGoal] = Field(default_factory=list)

    @model_validator(mode="after")
    def _numbers(self) -> Plan:
        numbers = [i.number for i in self.indicators]
        if len(set(numbers)) != len(numbers):
            raise ValueError("indicator numbers repeat")
        codes = [g.code for g in self.text_goals]
        if len(set(codes)) != len(codes):
            raise ValueError("text goal codes repeat")
        if not self.baseline_year < self.mid_term_year < self.target_year:
            raise ValueError("years must satisfy baseline_year < mid_term_year < target_year")
        for i in self.indicators:
            if i.target.year != self.target_year:
                raise ValueError(
                    f"indicator {i.number}: target year {i.target.year} is not the plan's"
                )
        return self

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        known = {"about_tolerance", "on_schedule_rho", "needs_speedup_rho", "nearly_done_p"}
        unknown = set(v) - known
        if unknown:
            raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {sorted(known)}")
        return v

    def indicator(self, number: int) -> Indicator:
        for i in self.indicators:
            if i.number == number:
                return i
        raise KeyError(f"plan {self.id} has no indicator {number}")

    def text_goal(self, code: str) -> TextGoal:
        for g in self.text_goals:
            if g.code == code:
                return g
        raise KeyError(f"plan {self.id} has no text goal {code}")

    def reported_element(self, ind: Indicator) -> str:
        """The element an indicator's reported value (monitoring sheet) is stored under: its
        reported formula's element, else ``reported_element(plan, number)`` (also for computed
        indicators, whose reported value is checked against the computed one)."""
        f = ind.formula
        if f is not None and f.kind == "reported" and f.element:
            return f.element
        return reported_element(self.id, ind.number)

    def elements_read(self) -> set[str]:
        """Every element the plan's values and checks read: its formulas' elements and every
        indicator's reported element."""
        out = {self.reported_element(i) for i in self.indicators}
        return out | {e for i in self.indicators if i.formula for e in i.formula.elements()}


# ---------------------------------------------------------------- loading


def yaml_data(text: str) -> Any:
    """``yaml.safe_load`` by libyaml where PyYAML has it (8× faster: every command reads the
    plans first); a document it refuses is read again by the Python loader, whose message
    shows the offending line."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml_data(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise DefinitionError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise DefinitionError(f"{path}: not valid YAML: {e}") from e


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in e.errors()
        )
        raise DefinitionError(f"{path}: {problems}") from None


class ElementCatalog(Strict):
    elements: list[DataElement]


class Catalog:
    """Every plan under a plans folder, with its areas and the data elements, cross-checked."""

    def __init__(self, plans_dir: Path):
        self.plans_dir = Path(plans_dir)
        self.elements: dict[str, DataElement] = {}
        self.plans: dict[str, Plan] = {}
        self.area_sets: dict[str, AreaSet] = {}
        self.files: list[Path] = []
        self._implicit: set[str] = set()  # reported elements no elements.yaml defines
        self._load()

    def _load(self) -> None:
        for path in sorted(self.plans_dir.glob("**/elements.yaml")):
            for el in _validate(ElementCatalog, _read_yaml(path), path).elements:
                if el.code in self.elements:
                    raise DefinitionError(f"{path}: field elements.{el.code}: defined twice")
                self.elements[el.code] = el
            self.files.append(path)
        for el in self.elements.values():
            unknown = sorted(el.recompute.elements() - set(self.elements)) if el.recompute else []
            if unknown:
                raise DefinitionError(
                    f"{self.plans_dir}: field elements.{el.code}.recompute: unknown elements {unknown}"
                )
        for path in sorted(self.plans_dir.glob("*/plan.yaml")):
            plan = _validate(Plan, _read_yaml(path), path)
            areas_path = path.parent / "areas.yaml"
            area_set = _validate(AreaSet, _read_yaml(areas_path), areas_path)
            if plan.id in self.plans:
                raise DefinitionError(f"{path}: field id: plan {plan.id!r} defined twice")
            if area_set.jurisdiction != plan.jurisdiction:
                raise DefinitionError(
                    f"{areas_path}: field jurisdiction: {area_set.jurisdiction} differs from "
                    f"the plan's {plan.jurisdiction}"
                )
            self._check_formulas(plan, path)
            self._define_reported(plan, path)
            self.plans[plan.id] = plan
            self.area_sets[plan.id] = area_set
            self.files.extend([path, areas_path])

    def _check_formulas(self, plan: Plan, path: Path) -> None:
        for ind in plan.indicators:
            if ind.formula is None:
                continue
            unknown = sorted(ind.formula.elements() - set(self.elements))
            if unknown:
                raise DefinitionError(
                    f"{path}: field indicators.{ind.number}.formula: unknown data elements {unknown}"
                )

    def _define_reported(self, plan: Plan, path: Path) -> None:
        """The data element of each reported formula that elements.yaml does not define, from
        the indicator's name and unit (reported by the bureau's monitoring sheet)."""
        for ind in plan.indicators:
            if ind.formula is None or ind.formula.kind != "reported":
                continue
            code = plan.reported_element(ind)
            if code in self._implicit:
                raise DefinitionError(
                    f"{path}: field indicators.{ind.number}.formula.element: {code!r} is "
                    "already the reported element of another indicator"
                )
            if code in self.elements:  # defined in elements.yaml
                continue
            self.elements[code] = DataElement(
                code=code,
                name_zh=ind.name_zh,
                name_en=ind.name_en,
                unit=ind.unit,
                source="monitoring",
                kind="measure",
                min=None,
            )
            self._implicit.add(code)

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            known = ", ".join(sorted(self.plans)) or "none"
            raise DefinitionError(f"unknown plan {plan_id!r}; known plans: {known}") from None

    def areas(self, plan_id: str) -> list[Area]:
        return self.area_sets[plan_id].areas

    def all_areas(self) -> dict[str, Area]:
        return {a.code: a for s in self.area_sets.values() for a in s.areas}

    def checksum(self, paths: Iterable[Path] | None = None) -> str:
        """Content hash of the definition files, to key skipped work on what actually changed."""
        h = hashlib.sha256()
        for p in sorted(paths or self.files):
            h.update(p.read_bytes())
        return h.hexdigest()


def load_catalog(plans_dir: Path | None = None) -> Catalog:
    if plans_dir is None:
        from healthplan.settings import get_settings

        plans_dir = get_settings().plans_dir
    return Catalog(Path(plans_dir))


# ---------------------------------------------------------------- checks of a plan as written

COMPARATOR_DIRECTION = {">=": "higher", ">": "higher", "<=": "lower", "<": "lower"}
DIRECTION_ZH = {"higher": "越高越好", "lower": "越低越好"}


def indicator_label(raw: Any) -> str:
    """How a message names an indicator: by its number, never by its place in the list."""
    number = raw.get("number") if isinstance(raw, dict) else None
    if isinstance(number, int) and not isinstance(number, bool):
        return f"指标{number} / indicator {number}"
    name = raw.get("name_zh") if isinstance(raw, dict) else None
    return f"指标“{name or '？'}”（缺少序号 / no number）"


def _pydantic_problems(model: type[BaseModel], data: Any, where: str) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as e:
        return [
            f"{where}: field {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in e.errors()
        ]
    return []


def plan_problems(data: Any, elements: Iterable[str] = ()) -> list[str]:
    """Every problem of a plan as written, all in one pass, each naming the indicator by its
    number (Chinese first): the shape of each part, then what the shape cannot see —
    direction against comparator, unit against a ratio's factor, a relative target without a
    baseline, unknown data elements, repeated numbers, years, categories out of order."""
    if not isinstance(data, dict):
        return ["field (top): 规划文件应为映射 / a plan must be a mapping"]
    raws = data.get("indicators")
    raws = raws if isinstance(raws, list) else []
    top = {**data, "indicators": [], "text_goals": []}  # those are checked one by one below
    problems = _pydantic_problems(Plan, top, "规划 / plan")
    if not isinstance(data.get("indicators"), list):
        problems.append("field indicators: 须为指标列表 / must be a list of indicators")
    known = set(elements)
    seen: dict[int, int] = {}
    for raw in raws:
        label = indicator_label(raw)
        problems += _pydantic_problems(Indicator, raw, label)
        if not isinstance(raw, dict):
            continue
        number = raw.get("number")
        if isinstance(number, int):
            seen[number] = seen.get(number, 0) + 1
        problems += _year_problems(raw, data, label)
        problems += _meaning_problems(raw, label, known)
    problems += [
        f"{indicator_label({'number': n})}: 序号重复{k}次 / number used {k} times"
        for n, k in seen.items()
        if k > 1
    ]
    problems += _category_problems(raws)
    codes: dict[str, int] = {}
    for goal in data.get("text_goals") or []:
        if isinstance(goal, dict):
            where = f"正文目标{goal.get('code') or ''}“{goal.get('name_zh', '？')}” / text goal"
            problems += _pydantic_problems(TextGoal, goal, where)
            problems += _direction_problems(goal, where)
            if isinstance(goal.get("code"), str):
                codes[goal["code"]] = codes.get(goal["code"], 0) + 1
    problems += [
        f"正文目标{c}: 编号重复{k}次 / text goal code used {k} times"
        for c, k in codes.items()
        if k > 1
    ]
    return problems


def _year_problems(raw: dict, plan: dict, label: str) -> list[str]:
    out = []
    target, baseline = raw.get("target"), raw.get("baseline")
    year = target.get("year") if isinstance(target, dict) else None
    if year is not None and plan.get("target_year") is not None and year != plan["target_year"]:
        out.append(
            f"{label}: field target.year: 目标年份{year}与规划目标年{plan['target_year']}不一致 "
            f"/ target year differs from the plan's"
        )
    byear = baseline.get("year") if isinstance(baseline, dict) else None
    if byear and plan.get("baseline_year") is not None and byear != plan["baseline_year"]:
        out.append(
            f"{label}: field baseline.year: 基期年份{byear}与规划基期年{plan['baseline_year']}"
            f"不一致 / baseline year differs from the plan's"
        )
    return out


def _direction_problems(raw: dict, label: str) -> list[str]:
    """A comparator that contradicts the indicator's direction (越高越好 with ≤, …)."""
    direction, target = raw.get("direction"), raw.get("target")
    if direction not in DIRECTION_ZH or not isinstance(target, dict):
        return []
    pairs = [("target", target.get("comparator"))]
    strata = target.get("strata")
    if isinstance(strata, dict):
        pairs += [
            (f"target.strata.{k}", s.get("comparator"))
            for k, s in strata.items()
            if isinstance(s, dict)
        ]
    out = []
    for field, comparator in pairs:
        implied = COMPARATOR_DIRECTION.get(comparator)
        if implied is not None and implied != direction:
            out.append(
                f"{label}: field {field}.comparator: 方向为“{DIRECTION_ZH[direction]}”，"
                f"目标却为“{comparator}” / direction {direction!r} contradicts comparator "
                f"{comparator!r}"
            )
    return out


def _meaning_problems(raw: dict, label: str, known: set[str]) -> list[str]:
    out = _direction_problems(raw, label)
    target, baseline, formula = raw.get("target"), raw.get("baseline"), raw.get("formula")
    relative = isinstance(target, dict) and target.get("comparator") == "relative"
    if relative and (not isinstance(baseline, dict) or baseline.get("value") is None):
        out.append(
            f"{label}: field target: 相对目标（在基期基础上变化）须有基期值 / a relative "
            f"target needs a baseline value"
        )
    unit = raw.get("unit")
    if isinstance(formula, dict) and formula.get("kind") == "ratio" and isinstance(unit, str):
        expected = unit_factor(unit)
        factor = formula.get("factor", 1.0)
        if expected is not None and isinstance(factor, int | float) and factor != expected:
            out.append(
                f"{label}: field formula.factor: 单位“{unit}”的系数应为{expected:g}，"
                f"却为{factor:g} / unit {unit!r} needs factor {expected:g}, not {factor:g}"
            )
    if isinstance(formula, dict) and known:
        try:
            used = Formula.model_validate(formula).elements()
        except ValidationError:
            used = set()
        unknown = sorted(used - known)
        if unknown:
            out.append(f"{label}: field formula: 未知数据元 / unknown data elements {unknown}")
    return out


def _category_problems(raws: list) -> list[str]:
    """A category must be one run of rows, as the plan's table prints it."""
    out, closed, current = [], set(), None
    for raw in raws:
        if not isinstance(raw, dict):
            continue
        cat = raw.get("category_zh")
        if cat == current:
            continue
        if cat in closed:
            out.append(
                f"{indicator_label(raw)}: field category_zh: 类别“{cat}”在其他类别之后再次出现，"
                f"类别顺序错乱 / category {cat!r} appears again after another: out of order"
            )
        if current is not None:
            closed.add(current)
        current = cat
    return out
