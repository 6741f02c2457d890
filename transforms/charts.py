"""Small line charts for the report, as inline SVG with real text.

Pure: numbers in, an SVG string out, written directly (a chart is a few dozen elements; a
plotting library spent ~20 ms on each, the report's largest own cost). Text stays text in the
report's own CJK font, so the PDF embeds one font and chart labels can be searched and copied.
Nothing carries an id or a style, so many charts can share one HTML page without touching each
other or the page's CSS, and the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

FONT_FAMILY = "Noto Sans CJK SC"
# Restrained palette: ink for observed values, grey for the plan's references.
INK = ("#1f4e79", "#9c4a1a", "#4f6228", "#5b4b8a")
TARGET = "#7a7a7a"
PATH = "#a6a6a6"
AXIS = "#333333"
DATA_YEAR = "#d9d9d9"
MUTED = "#555555"

PT_PER_IN = 72.0
FONT = 6.5  # tick labels (pt; the SVG's user unit is the point)
SMALL = 6.0  # value and target labels
LEGEND = 5.5
TICK, PAD = 2.0, 1.5  # tick length and the gap to its label


@dataclass(frozen=True)
class Line:
    """One observed series, e.g. the jurisdiction's values or one stratum's."""

    label: str
    values: Mapping[int, float]
    target: float | None = None


@dataclass(frozen=True)
class ChartSpec:
    """Everything one small chart shows; built by the report context from plan and values."""

    key: str  # names the chart in messages; unique within a report
    lines: Sequence[Line]
    baseline_year: int
    target_year: int
    data_year: int
    baseline: float | None = None  # x0 (drawn as the start of the planned path)
    target: float | None = None  # x* for the planned path and the target line
    baseline_label: str | None = None  # where x0 comes from, e.g. '基期（数据仓库）'
    direction: int | None = None  # +1 higher is better, -1 lower: no path to a target x0 meets
    target_label: str | None = None  # e.g. '目标 ≥2.52'
    decimals: int = 2
    width_in: float = 2.3
    height_in: float = 1.5
    labels: Mapping[str, str] = field(default_factory=dict)


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------------------ text metrics

# Advance widths (em) of Noto Sans CJK SC; wide and ambiguous characters (CJK, ≥, fullwidth
# brackets) are one em. Enough to place labels without reading the font file.
_ASCII_EM = {**dict.fromkeys("0123456789=+", 0.555), ".": 0.278, ",": 0.278, "-": 0.347}
_ASCII_EM |= {" ": 0.224, "(": 0.338, ")": 0.338, "%": 0.921, ":": 0.278}


def text_width(text: str, size: float) -> float:
    """The width of a label in points, as Noto Sans CJK SC sets it (to within a few %)."""
    em = 0.0
    for ch in text:
        if ch in _ASCII_EM:
            em += _ASCII_EM[ch]
        elif unicodedata.east_asian_width(ch) in "WFA":
            em += 1.0
        else:
            em += 0.58
    return em * size


# ------------------------------------------------------------------------------ scales


def _ylimits(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        span = abs(hi) * 0.2 or 1.0
    return lo - span * 0.15, hi + span * 0.2


def _step_decimals(step: float) -> int:
    """Decimals that show every multiple of a tick step exactly (2.5 → 1, 0.0002 → 4)."""
    for d in range(12):
        if abs(round(step, d) - step) <= step * 1e-6:
            return d
    return 12


def nice_ticks(lo: float, hi: float, most: int = 4) -> tuple[list[float], int]:
    """Round tick values inside [lo, hi], at most ``most`` of them, and their decimals.

    Steps of 1, 2, 2.5 or 5 × 10ᵏ: the smallest that puts no more than ``most`` ticks in range.
    """
    k0 = math.floor(math.log10(hi - lo)) - 1
    for step in (s * 10.0**k for k in range(k0, k0 + 3) for s in (1, 2, 2.5, 5)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= most:
            break
    decimals = _step_decimals(step)
    return [round(k * step, decimals) + 0.0 for k in range(first, last + 1)], decimals


def year_ticks(t0: int, t1: int, room: float) -> list[int]:
    """Every year when the labels fit side by side, else every n-th (always the first and last)."""
    every = max(1, math.ceil((text_width("2000", FONT) + 3) / room))
    years = list(range(t0, t1 + 1, every))
    if years[-1] != t1:  # the target year is always labelled; it takes the last slot's place
        years[-1 if len(years) > 1 else 1 :] = [t1]
    return years


# ------------------------------------------------------------------------------ SVG pieces


def _n(v: float) -> str:
    """A coordinate with two decimals and no trailing zeros: short, stable output."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def _text(x, y, s, *, size=FONT, fill=AXIS, anchor="start") -> str:
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" fill="{fill}"{a}>'
        f"{escape(s, quote=False)}</text>"
    )


def _line(x1, y1, x2, y2, colour, width, dash=None, opacity=None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    o = f' stroke-opacity="{opacity}"' if opacity is not None else ""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
        f'stroke="{colour}" stroke-width="{width}"{d}{o}/>'
    )


def _polyline(points, colour, width, dash=None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return (
        f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}" '
        f'stroke-linecap="round"{d}/>'
    )


def _dots(points, colour, r=1.5) -> str:
    return "".join(
        f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{r}" fill="{colour}"/>' for x, y in points
    )


# ------------------------------------------------------------------------------ placement

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (y grows downwards)


def _text_box(x: float, y: float, s: str, size: float, anchor: str) -> Box:
    w = text_width(s, size)
    x0 = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
    return x0 - 0.8, y - size * 0.9 - 0.8, x0 + w + 0.8, y + size * 0.2 + 0.8  # with a margin


def _inside(box: Box, x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _samples(points: Sequence[tuple[float, float]], per_segment: int = 8):
    """Points along a polyline, to tell whether a label would sit on it."""
    if len(points) == 1:
        yield points[0]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for k in range(per_segment + 1):
            t = k / per_segment
            yield x0 + (x1 - x0) * t, y0 + (y1 - y0) * t


def _cost(
    box: Box, obstacles: Iterable[tuple[float, float, float]], taken: Sequence[Box], weight=0.0
):
    """How much a label at ``box`` would hide: the points under it that weigh at least
    ``weight``, and other labels."""
    hits = sum(w for x, y, w in obstacles if w >= weight and _inside(box, x, y))
    return hits + 10 * sum(_overlap(box, t) for t in taken)


# ------------------------------------------------------------------------------ the chart


def line_chart(spec: ChartSpec) -> str:
    """An SVG (no XML header) of the series from the baseline year to the data year."""
    W, H = spec.width_in * PT_PER_IN, spec.height_in * PT_PER_IN
    t0, tT = spec.baseline_year, spec.target_year
    if tT <= t0:
        raise ValueError(f"chart {spec.key}: target year {tT} is not after baseline year {t0}")

    # Values after the data year are not what this report judges (a mid-term report re-rendered
    # later would otherwise show years its tables do not): the series stop at the data year.
    last = min(spec.data_year, tT)
    series = []
    ys: list[float] = []
    for line in spec.lines:
        pts = sorted(
            (y, float(v)) for y, v in line.values.items() if _finite(v) and t0 <= y <= last
        )
        series.append(pts)
        ys.extend(v for _, v in pts)
    has_target = _finite(spec.target)
    has_baseline = _finite(spec.baseline)
    has_path = has_target and has_baseline and not baseline_meets_target(spec)
    several = len(spec.lines) > 1
    strata_targets = [
        float(line.target) if several and _finite(line.target) else None for line in spec.lines
    ]
    ys += [float(spec.target)] if has_target else []
    ys += [float(spec.baseline)] if has_path or (has_baseline and spec.baseline_label) else []
    ys += [t for t in strata_targets if t is not None]

    if ys:
        ylo, yhi = _ylimits(ys)
        ticks, decimals = nice_ticks(ylo, yhi)
        tick_labels = [f"{t:.{decimals}f}" for t in ticks]
        widest = max((text_width(s, FONT) for s in tick_labels), default=0.0)
    else:
        ylo, yhi, ticks, tick_labels, widest = 0.0, 1.0, [], [], 0.0
    left = max(0.16 * W, widest + TICK + PAD + 2)
    right, top, bottom = W - 0.04 * W, 0.07 * H, H - 0.15 * H

    def px(year: float) -> float:
        return left + (year - t0 + 0.3) / (tT - t0 + 0.6) * (right - left)

    def py(v: float) -> float:
        return bottom - (v - ylo) / (yhi - ylo) * (bottom - top)

    out: list[str] = []
    labels: list[str] = []
    taken: list[Box] = []
    # What a label should not hide: observed points and lines (1), reference lines (0.3).
    obstacles: list[tuple[float, float, float]] = []

    # Background: the data year, then the references.
    out.append(_line(px(spec.data_year), top, px(spec.data_year), bottom, DATA_YEAR, 0.6))
    if has_target:
        ty = py(spec.target)
        out.append(_line(left, ty, right, ty, TARGET, 0.8, dash="3.2 1.6"))
        obstacles += [(x, ty, 0.3) for x in _frange(left, right, 12)]
    for i, t in enumerate(strata_targets):
        if t is not None:
            colour = INK[i % len(INK)]
            out.append(_line(left, py(t), right, py(t), colour, 0.6, dash="2.4 1.2", opacity=0.7))
            obstacles += [(x, py(t), 0.3) for x in _frange(left, right, 12)]
    if has_path:
        path = [(px(t0), py(spec.baseline)), (px(tT), py(spec.target))]
        out.append(_polyline(path, PATH, 0.8, dash="0.8 1.2"))
        obstacles += [(x, y, 0.3) for x, y in _samples(path, 12)]

    if has_baseline and spec.baseline_label:  # x0, hollow, labelled by its source
        bx, by = px(t0), py(spec.baseline)
        out.append(
            f'<circle cx="{_n(bx)}" cy="{_n(by)}" r="1.8" fill="#ffffff" '
            f'stroke="{MUTED}" stroke-width="0.6"/>'
        )
        obstacles.append((bx, by, 1.0))

    # The observed series, each with its latest value at its end.
    drawn = [(i, pts) for i, pts in enumerate(series) if pts]
    for i, pts in drawn:
        xy = [(px(y), py(v)) for y, v in pts]
        colour = INK[i % len(INK)]
        if len(xy) > 1:
            out.append(_polyline(xy, colour, 1.2))
        out.append(_dots(xy, colour))
        obstacles += [(x, y, 1.0) for x, y in _samples(xy)]
    # Labels: each series' latest value at its end, the target's above or below its line.
    requests: list[_Label] = []
    for i, pts in drawn:
        xy = [(px(y), py(v)) for y, v in pts]
        (x, y), rising = xy[-1], len(xy) < 2 or xy[-2][1] >= xy[-1][1]
        candidates = [
            (x + 3, y + SMALL * 0.33, "start"),  # right of the point
            (x - 2.5, y - 3 if rising else y + SMALL + 1.5, "end"),  # away from the line
            (x - 2.5, y + SMALL + 1.5 if rising else y - 3, "end"),
            (x, y - 3.5, "middle"),  # above
            (x, y + SMALL + 2.5, "middle"),  # below
        ]
        text = f"{pts[-1][1]:.{spec.decimals}f}"
        requests.append(_Label(text, INK[i % len(INK)], candidates, (left, 0, W, bottom), 0.3))
    if has_target and spec.target_label:
        ty = py(spec.target)
        candidates = [(right - 1, ty - 2, "end"), (right - 1, ty + SMALL + 1, "end")]
        candidates += [(left + 2, ty - 2, "start"), (left + 2, ty + SMALL + 1, "start")]
        requests.append(_Label(spec.target_label, MUTED, candidates, (left, 0, W, bottom), 1.0))
    if has_baseline and spec.baseline_label:
        bx, by = px(t0), py(spec.baseline)
        candidates = [(bx + 3, by + SMALL + 1.5, "start"), (bx + 3, by - 3, "start")]
        candidates += [(bx, by + SMALL + 2.5, "middle"), (bx, by - 3.5, "middle")]
        requests.append(_Label(spec.baseline_label, MUTED, candidates, (left, 0, W, bottom), 0.3))
    # Placed one by one, values first or target first, whichever hides less in all.
    placed = min(
        (_placements(order, obstacles) for order in (requests, requests[::-1])),
        key=lambda p: p[0],
    )[1]
    for label, (bx, by, anchor) in placed:
        taken.append(_text_box(bx, by, label.text, SMALL, anchor))
        labels.append(_text(bx, by, label.text, size=SMALL, fill=label.colour, anchor=anchor))

    if several and drawn:
        labels.append(_legend(spec.lines, left, right, top, bottom, obstacles, taken))

    # Axes on top of the data, then the labels.
    out.append(_axes(spec, px, py, ticks, tick_labels, left, right, top, bottom))
    if not ys:
        no_data = spec.labels.get("no_data", "无数据")
        mid = ((left + right) / 2, (top + bottom) / 2 + FONT * 0.33)
        labels.append(_text(*mid, no_data, fill="#888888", anchor="middle"))

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(W)} {_n(H)}" '
        f'font-family="{FONT_FAMILY}, sans-serif" stroke-linejoin="round">'
        + "".join(out)
        + "".join(labels)
        + "</svg>"
    )


def baseline_meets_target(spec: ChartSpec) -> bool:
    """Whether x0 already meets x* in the indicator's direction: then no planned path is
    drawn (it would lead away from the baseline to a target already reached)."""
    if spec.direction not in (1, -1) or not (_finite(spec.baseline) and _finite(spec.target)):
        return False
    return spec.direction * (float(spec.target) - float(spec.baseline)) <= 1e-9 * max(
        1.0, abs(float(spec.target))
    )


def _frange(a: float, b: float, n: int) -> list[float]:
    return [a + (b - a) * k / n for k in range(n + 1)]


@dataclass(frozen=True)
class _Label:
    """A label to place: its text, colour, candidate places (x, y, anchor) in order of
    preference, the box it must stay in, and the least weight of the points it must not hide
    (1: observed only; 0.3: reference lines too)."""

    text: str
    colour: str
    candidates: list[tuple[float, float, str]]
    bounds: Box
    weight: float


def _placements(order: Sequence[_Label], obstacles) -> tuple[tuple[bool, float], list]:
    """Each label at its best candidate given those placed before it, and the total cost."""
    taken: list[Box] = []
    placed, outside, total = [], False, 0.0
    for label in order:
        scored = []
        for c in label.candidates:
            box = _text_box(c[0], c[1], label.text, SMALL, c[2])
            b = label.bounds
            out = box[0] < b[0] or box[2] > b[2] or box[1] < b[1] or box[3] > b[3]
            scored.append(((out, _cost(box, obstacles, taken, label.weight)), c, box))
        score, choice, box = min(scored, key=lambda s: s[0])
        outside, total = outside or score[0], total + score[1]
        taken.append(box)
        placed.append((label, choice))
    return (outside, total), placed


def _legend(lines, left, right, top, bottom, obstacles, taken) -> str:
    """One row per stratum (a stroke with a dot, then its name) in the corner it hides least."""
    row, stroke = LEGEND + 1.5, 8.0
    w = stroke + 2 + max(text_width(line.label, LEGEND) for line in lines)
    h = row * len(lines)
    corners = [
        (right - w - 1, top + 1),
        (left + 3, top + 1),
        (right - w - 1, bottom - h - 3),
        (left + 3, bottom - h - 3),
    ]
    x0, y0 = min(corners, key=lambda c: _cost((c[0], c[1], c[0] + w, c[1] + h), obstacles, taken))
    parts = []
    for i, line in enumerate(lines):
        colour = INK[i % len(INK)]
        yc = y0 + row * i + row / 2
        parts.append(_line(x0, yc, x0 + stroke, yc, colour, 1.2))
        parts.append(_dots([(x0 + stroke / 2, yc)], colour))
        parts.append(_text(x0 + stroke + 2, yc + LEGEND * 0.33, line.label, size=LEGEND))
    return "".join(parts)


def _axes(spec, px, py, ticks, tick_labels, left, right, top, bottom) -> str:
    """The left and bottom axes with their ticks and labels."""
    t0, tT = spec.baseline_year, spec.target_year
    parts = [
        _line(left, top, left, bottom, AXIS, 0.5),
        _line(left, bottom, right, bottom, AXIS, 0.5),
    ]
    for year in year_ticks(t0, tT, px(t0 + 1) - px(t0)):
        x = px(year)
        parts.append(_line(x, bottom, x, bottom + TICK, AXIS, 0.5))
        parts.append(_text(x, bottom + TICK + PAD + FONT * 0.8, str(year), anchor="middle"))
    for value, label in zip(ticks, tick_labels, strict=True):
        y = py(value)
        parts.append(_line(left - TICK, y, left, y, AXIS, 0.5))
        parts.append(_text(left - TICK - PAD, y + FONT * 0.33, label, anchor="end"))
    return "".join(parts)
