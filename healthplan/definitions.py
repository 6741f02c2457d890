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


class Formula(Strict):
    """How an indicator comes from data elements.

    ratio:  factor * sum(numerator) / sum(denominator), both summed up the area hierarchy;
    direct: the element as reported, aggregated upwards as a mean weighted by `weight`;
    reported: the indicator's value as the bureau's monitoring sheet reports it (`element` optional);
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
            if self.numerator or self.denominator:
                raise ValueError("a reported formula takes no numerator/denominator")
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


class ReviewItem(Strict):
    """Something `plan import` guessed and a person must confirm (`plan validate` warns)."""

    field: str
    why_zh: str
    why_en: str | None = None


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
    level: JudgedLevel = "area"
    formula: Formula | None = Field(description="None: reported directly by no source we hold")
    text_figures: list[TextFigure] = Field(default_factory=list)
    decimals: int = 2
    notes: str | None = None
    review_needed: list[ReviewItem] = Field(default_factory=list)

    @property
    def sign(self) -> int:
        return 1 if self.direction == "higher" else -1


class TextGoal(Strict):
    """A quantified goal stated only in the plan's body text."""

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
