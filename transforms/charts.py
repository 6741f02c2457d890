"""Small line charts for the report, as inline SVG with real text.

Pure: numbers in, an SVG string out. Text stays text (``svg.fonttype = 'none'``) in the report's
own CJK font, so the PDF embeds one font and chart labels can be searched and copied. Each chart
gets its own ``svg.hashsalt``, so the ids of clip paths stay unique when many charts share one
HTML page, and the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("svg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

FONT_FAMILY = "Noto Sans CJK SC"
# Restrained palette: ink for observed values, grey for the plan's references.
INK = ("#1f4e79", "#9c4a1a", "#4f6228", "#5b4b8a")
TARGET = "#7a7a7a"
PATH = "#a6a6a6"

_LOCK = threading.Lock()  # rcParams are global; charts may be drawn from several threads


@dataclass(frozen=True)
class Line:
    """One observed series, e.g. the jurisdiction's values or one stratum's."""

    label: str
    values: Mapping[int, float]
    target: float | None = None


@dataclass(frozen=True)
class ChartSpec:
    """Everything one small chart shows; built by the report context from plan and values."""

    key: str  # unique within a report (ids inside the SVG derive from it)
    lines: Sequence[Line]
    baseline_year: int
    target_year: int
    data_year: int
    baseline: float | None = None  # the plan's x0 (drawn as the start of the planned path)
    target: float | None = None  # x* for the planned path and the target line
    target_label: str | None = None  # e.g. '目标 ≥2.52'
    decimals: int = 2
    width_in: float = 2.3
    height_in: float = 1.5
    labels: Mapping[str, str] = field(default_factory=dict)


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_ID_ATTR = re.compile(r'\sid="([^"]*)"')


def _presentation_attributes(match: re.Match) -> str:
    """style="fill: #fff; stroke: #000" → fill="#fff" stroke="#000".

    Inline in HTML, an SVG's style attributes and <style> element go through the page's CSS
    cascade, which knows no SVG properties (a warning per declaration, and a <style> rule would
    leak to the whole page). Presentation attributes are read by the SVG renderer only.
    """
    out = []
    for decl in match.group(1).split(";"):
        name, _, value = decl.partition(":")
        name, value = name.strip(), value.strip()
        if name and value:
            out.append(f' {name}="{value}"')
    return "".join(out)


def _clean_svg(svg: str) -> str:
    svg = re.sub(r"^\s*<\?xml[^>]*>\s*", "", svg)
    svg = re.sub(r"^\s*<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, flags=re.S)
    svg = re.sub(r"<defs>\s*</defs>", "", svg)
    svg = _STYLE_ATTR.sub(_presentation_attributes, svg)
    # matplotlib's element ids (figure_1, axes_1, text_3…) repeat in every chart; keep only the
    # ids something refers to (clip paths, markers), which are salted per chart and so unique.
    referenced = set(re.findall(r'url\(#([^)"]+)\)|href="#([^"]+)"', svg))
    keep = {name for pair in referenced for name in pair if name}
    svg = _ID_ATTR.sub(lambda m: m.group(0) if m.group(1) in keep else "", svg)
    # Size comes from the page's CSS; the viewBox keeps the proportions. The <style> removed
    # above set these two for every element; as attributes on the root they are inherited.
    svg = re.sub(
        r'^<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 stroke-linejoin="round" stroke-linecap="butt"',
        svg,
        count=1,
    )
    svg = re.sub(r"\n\s*", "\n", svg)
    return svg.strip()


def _ylimits(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo
    if span == 0:
        span = abs(hi) * 0.2 or 1.0
    return lo - span * 0.15, hi + span * 0.2


def line_chart(spec: ChartSpec) -> str:
    """An SVG (no XML header) of the series from the baseline year to the data year."""
    rc = {
        "svg.fonttype": "none",
        "svg.hashsalt": spec.key,
        "font.family": "sans-serif",
        "font.sans-serif": [FONT_FAMILY, "DejaVu Sans"],
        "font.size": 6.5,
        "axes.linewidth": 0.5,
        "axes.unicode_minus": False,
        "xtick.major.width": 0.5,
        "ytick.major.width": 0.5,
        "xtick.major.size": 2,
        "ytick.major.size": 2,
        "xtick.major.pad": 1.5,
        "ytick.major.pad": 1.5,
        "lines.solid_capstyle": "round",
    }
    with _LOCK, matplotlib.rc_context(rc):
        fig = Figure(figsize=(spec.width_in, spec.height_in))
        ax = fig.add_subplot()
        ys: list[float] = []
        t0, tT = spec.baseline_year, spec.target_year
        if _finite(spec.target):
            ax.axhline(spec.target, color=TARGET, lw=0.8, ls=(0, (4, 2)), zorder=1)
            ys.append(float(spec.target))
            if spec.target_label:
                ax.annotate(
                    spec.target_label,
                    xy=(tT, spec.target),
                    xytext=(-1, 2),
                    textcoords="offset points",
                    ha="right",
                    va="bottom",
                    color="#555555",
                    fontsize=6,
                )
        if _finite(spec.baseline) and _finite(spec.target):
            ax.plot([t0, tT], [spec.baseline, spec.target], color=PATH, lw=0.8, ls=(0, (1, 1.5)))
            ys.append(float(spec.baseline))
        for i, line in enumerate(spec.lines):
            pts = sorted(
                (y, float(v)) for y, v in line.values.items() if _finite(v) and t0 <= y <= tT
            )
            colour = INK[i % len(INK)]
            if _finite(line.target) and len(spec.lines) > 1:
                ax.axhline(line.target, color=colour, lw=0.6, ls=(0, (4, 2)), alpha=0.7)
                ys.append(float(line.target))
            if not pts:
                continue
            xs, vs = zip(*pts, strict=True)
            ys.extend(vs)
            ax.plot(xs, vs, color=colour, lw=1.2, marker="o", ms=2.2, label=line.label, zorder=3)
            last_x, last_v = xs[-1], vs[-1]
            ax.annotate(
                f"{last_v:.{spec.decimals}f}",
                xy=(last_x, last_v),
                xytext=(3, -2 if i else 2),
                textcoords="offset points",
                ha="left",
                va="center",
                color=colour,
                fontsize=6,
            )
        if len(spec.lines) > 1 and any(line.values for line in spec.lines):
            ax.legend(loc="best", fontsize=5.5, frameon=False, handlelength=1.2, borderpad=0.2)
        if ys:
            ax.set_ylim(*_ylimits(ys))
        ax.set_xlim(t0 - 0.3, tT + 0.3)
        ax.set_xticks(range(t0, tT + 1))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x)}"))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.axvline(spec.data_year, color="#d9d9d9", lw=0.6, zorder=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(colors="#333333")
        if not ys:
            ax.set_yticks([])
            ax.text(
                0.5,
                0.5,
                spec.labels.get("no_data", "无数据"),
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#888888",
            )
        fig.subplots_adjust(left=0.16, right=0.96, top=0.93, bottom=0.15)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _clean_svg(buf.getvalue())
