"""Charts: small inline SVGs with real text, unique ids and nothing that leaks into the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from transforms.charts import ChartSpec, Line, line_chart

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


def test_ids_are_unique_across_charts_and_output_is_reproducible():
    a, b = line_chart(spec("p-1")), line_chart(spec("p-2"))
    ids_a, ids_b = set(re.findall(r' id="([^"]+)"', a)), set(re.findall(r' id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b  # clip paths survive, salted per chart
    assert "figure_1" not in ids_a  # matplotlib's repeated element ids are gone
    for ref in re.findall(r"url\(#([^)]+)\)", a):
        assert ref in ids_a
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
