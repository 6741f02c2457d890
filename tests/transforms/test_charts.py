"""Charts: small inline SVGs with real text, unique ids and nothing that leaks into the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from transforms.charts import ChartSpec, Line, line_chart, nice_ticks, text_width, year_ticks

SVG = "{http://www.w3.org/2000/svg}"


def spec(key="demo-1", **kw) -> ChartSpec:
    fields = dict(
        key=key,
        lines=[Line("注册护士", {2015: 1.41, 2016: 1.6, 2017: 1.8, 2018: 1.95})],
        baseline_year=2015,
        target_year=2020,
        data_year=2018,
        baseline=1.41,
        target=2.52,
        target_label="目标≥2.52",
        decimals=2,
    )
    fields.update(kw)
    return ChartSpec(**fields)


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def text_boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Each label's extent (x0, y0, x1, y1) in the chart's points, from its anchor and size."""
    boxes = {}
    for t in ET.fromstring(svg).iter(f"{SVG}text"):
        s, x, y, size = t.text, float(t.get("x")), float(t.get("y")), float(t.get("font-size"))
        w = text_width(s, size)
        x0 = {"end": x - w, "middle": x - w / 2}.get(t.get("text-anchor"), x)
        boxes[s] = (x0, y - 0.8 * size, x0 + w, y + 0.2 * size)
    return boxes


def viewbox(svg: str) -> tuple[float, float]:
    _, _, w, h = map(float, ET.fromstring(svg).get("viewBox").split())
    return w, h


def test_svg_has_no_xml_header_and_parses():
    svg = line_chart(spec())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg
    ET.fromstring(svg)  # well-formed


def test_text_is_real_text_in_the_report_font():
    svg = line_chart(spec())
    words = texts(svg)
    assert "目标≥2.52" in words  # the target label, in Chinese, as text not paths
    assert "1.95" in words  # the latest value
    assert {"2015", "2018", "2020"} <= set(words)  # year ticks
    assert "Noto Sans CJK SC" in svg
    assert "<path d" not in "".join(re.findall(r"<text.*?</text>", svg, flags=re.S))


def test_nothing_inside_reaches_the_page_css():
    # no <style> (its rules would apply to the whole HTML page) and no style="" attributes
    svg = line_chart(spec())
    assert "<style" not in svg and " style=" not in svg
    assert 'fill="' in svg and 'stroke="' in svg


def test_no_ids_so_charts_cannot_clash_and_output_is_reproducible():
    a = line_chart(spec("p-1"))
    assert " id=" not in a and "url(#" not in a  # nothing one chart could take from another
    assert line_chart(spec("p-1")) == a


def test_labels_are_escaped():
    svg = line_chart(spec(target_label='<img src="file:///etc/passwd">'))
    assert "<img" not in svg
    assert '<img src="file:///etc/passwd">' in texts(svg)


def test_split_targets_draw_one_line_per_stratum_with_a_legend():
    svg = line_chart(
        spec(
            lines=[
                Line("农村", {2015: 30.0, 2018: 33.0}, 35.0),
                Line("城镇", {2015: 50.0, 2018: 56.0}, 60.0),
            ],
            baseline=None,
            target=None,
            target_label=None,
        )
    )
    words = texts(svg)
    assert "农村" in words and "城镇" in words


def test_no_data_says_so():
    svg = line_chart(spec(lines=[Line("x", {})], baseline=None, target=None, target_label=None))
    assert "无数据" in texts(svg)


def test_chart_is_small():
    assert len(line_chart(spec()).encode()) < 20_000


def test_value_label_at_the_target_year_stays_inside_the_chart():
    # the latest value sits at the right edge: its label goes to the left, not off the chart
    svg = line_chart(spec(lines=[Line("x", {2015: 0.0012, 2020: 0.0019})], baseline=0.0012,
                          target=0.002, target_label="目标≥0.002", decimals=4, data_year=2020))  # fmt: skip
    w, h = viewbox(svg)
    for label, (x0, y0, x1, y1) in text_boxes(svg).items():
        assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h, label


def test_labels_do_not_overlap_each_other():
    cases = [
        spec(),
        spec(
            lines=[Line("x", {2015: 1.0, 2020: 1.99})],
            target=2.0,
            target_label="目标≥2.00",
            baseline=1.0,
            data_year=2020,
        ),  # fmt: skip
        spec(
            lines=[
                Line("农村", {2015: 30.0, 2018: 33.0}, 35.0),
                Line("城镇", {2015: 31.0, 2018: 33.5}, 36.0),
            ],
            target=None,
            baseline=None,
            target_label=None,
        ),  # fmt: skip
    ]
    for s in cases:
        boxes = list(text_boxes(line_chart(s)).items())
        for i, (a, ba) in enumerate(boxes):
            for b, bb in boxes[i + 1 :]:
                apart = ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]
                assert apart, (a, b)


def test_y_ticks_are_round_numbers_with_one_format():
    assert nice_ticks(1.2, 2.7) == ([1.5, 2.0, 2.5], 1)
    assert nice_ticks(0.00105, 0.0021) == ([0.00125, 0.0015, 0.00175, 0.002], 5)
    assert nice_ticks(11000, 19000) == ([12000.0, 14000.0, 16000.0, 18000.0], 0)
    ticks, decimals = nice_ticks(-1.7, 1.2)
    assert ticks == [-1.0, 0.0, 1.0] and decimals == 0 and str(ticks[1]) == "0.0"  # no "-0"
    svg = line_chart(spec())
    y_labels = [t for t in texts(svg) if t.replace(".", "").isdigit() and "." in t and t != "1.95"]
    assert y_labels and len({len(t.split(".")[1]) for t in y_labels}) == 1


def test_years_thin_out_when_a_long_plan_leaves_no_room():
    assert year_ticks(2015, 2020, room=23.0) == [2015, 2016, 2017, 2018, 2019, 2020]
    thinned = year_ticks(2011, 2030, room=7.0)
    assert thinned[0] == 2011 and thinned[-1] == 2030
    gaps = {b - a for a, b in zip(thinned, thinned[1:], strict=False)}
    assert min(gaps) * 7.0 >= text_width("2000", 6.5)


def test_a_chart_takes_well_under_a_millisecond():
    # the reason charts are written directly: the report draws dozens of them
    import time

    s = spec()
    started = time.perf_counter()
    for _ in range(200):
        line_chart(s)
    assert (time.perf_counter() - started) / 200 < 0.005


def test_series_stop_at_the_data_year():
    # a mid-term report re-rendered once later years are in shows only what its tables judge
    svg = line_chart(spec(lines=[Line("x", {2015: 1.41, 2018: 1.95, 2019: 2.2, 2020: 2.4})]))
    words = texts(svg)
    assert "1.95" in words and "2.40" not in words
    later_only = spec(lines=[Line("x", {2019: 2.2})], baseline=None, target=None, target_label=None)
    assert "无数据" in texts(line_chart(later_only))


def _polylines(svg: str) -> list[str]:
    return [p.get("points") for p in ET.fromstring(svg).iter(f"{SVG}polyline")]


def test_no_planned_path_to_a_target_the_baseline_already_meets():
    # ≥ 85 with x0 = 96: a dotted path from 96 down to 85 would show a plan to fall
    met = spec(
        lines=[Line("治愈率", {2015: 96.0, 2018: 95.0})],
        baseline=96.0,
        target=85.0,
        target_label="目标85",
        direction=1,
    )
    unmet = spec(direction=1)
    assert len(_polylines(line_chart(met))) == 1  # the observed series only
    assert len(_polylines(line_chart(unmet))) == 2  # and the planned path
    lower = spec(lines=[Line("x", {2015: 5.0, 2018: 4.0})], baseline=5.0, target=8.0, direction=-1)
    assert len(_polylines(line_chart(lower))) == 1  # ≤ 8 with x0 = 5: met already


def test_the_baseline_point_is_labelled_with_its_source():
    svg = line_chart(spec(baseline_label="基期（数据仓库）", direction=1))
    assert "基期（数据仓库）" in texts(svg)
    circles = [c for c in ET.fromstring(svg).iter(f"{SVG}circle") if c.get("fill") == "#ffffff"]
    assert len(circles) == 1
    assert "基期" not in "".join(texts(line_chart(spec())))
    boxes = list(text_boxes(svg).items())
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1 :]:
            apart = ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]
            assert apart, (a, b)
