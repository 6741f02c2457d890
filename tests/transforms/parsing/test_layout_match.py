"""Choosing a layout: layout files, header matching, year ranges, ambiguity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from healthplan.definitions import DefinitionError
from healthplan.layouts import Layout, SourceLayouts, load_layouts
from healthplan.settings import REPO_ROOT
from tests.transforms.parsing.helpers import (
    CORE_SOURCES,
    DEMO,
    HEADER,
    INFO,
    NOW,
    PLANS,
    ROWS,
    V1,
    V2,
    ZHUCHI,
    csv_bytes,
    facility,
    xlsx_bytes,
)
from transforms.parsing import (
    UnreadableFile,
    parse_file,
)


def test_layout_files_load_and_cover_every_core_element(layouts, elements):
    assert set(CORE_SOURCES) <= set(layouts.sources)
    for source in CORE_SOURCES:
        needed = {c for c, e in elements.items() if e.source == source}
        assert needed <= layouts.covered_elements(source), source
    resources = layouts.sources["resources"].layouts
    assert [(lay.id, lay.years) for lay in resources] == [
        ("resources_v1", (2010, 2017)),
        ("resources_v2", (2018, None)),
    ]


def test_unknown_element_in_a_layout_file_names_the_file_and_field(tmp_path, elements):
    text = (PLANS / "sources" / "mch.yaml").read_text(encoding="utf-8")
    (tmp_path / "mch.yaml").write_text(text.replace("活产数: live_births", "活产数: live_birthz"))
    with pytest.raises(DefinitionError) as e:
        load_layouts(tmp_path, elements)
    assert "mch.yaml" in str(e.value)
    assert "layouts.0.columns.活产数.element" in str(e.value)
    assert "live_birthz" in str(e.value)


def test_layout_file_with_an_element_of_another_source_is_refused(tmp_path, elements):
    text = (PLANS / "sources" / "mch.yaml").read_text(encoding="utf-8")
    (tmp_path / "mch.yaml").write_text(text.replace("活产数: live_births", "活产数: pop_resident"))
    with pytest.raises(DefinitionError, match="belongs to source 'population'"):
        load_layouts(tmp_path, elements)


def test_malformed_layout_file_is_refused_with_the_field(tmp_path, elements):
    (tmp_path / "demo.yaml").write_text(
        "source: demo\nname_zh: x\npublisher_zh: y\nlayouts:\n- id: d\n  years: [2020, 2010]\n"
        "  format: csv\n  shape: long\n  columns: {代码: area_code, 年份: year}\n"
    )
    with pytest.raises(DefinitionError, match=r"demo\.yaml: field layouts\.0.*2020 is after 2010"):
        load_layouts(tmp_path, elements)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"shape": "facility"}, "facility layout needs columns"),
        (
            {"columns": {"代码": "area_code", "年份": "year", "a": "cnt", "b": "cnt"}},
            "mapped twice",
        ),
        ({"columns": {"年份": "year", "a": "cnt"}}, "area_code"),
        ({"columns": {"代码": "area_code", "a": "cnt"}}, "year_from_filename"),
        (
            {"columns": {"代码": "area_code", "年份": "year", "（A）": "cnt", "(a)": "pop"}},
            "same header",
        ),
        ({"format": "csv", "sheet": "x"}, "only an xlsx layout has sheets"),
    ],
)
def test_layout_model_checks(change, message):
    base = {
        "id": "x",
        "years": [2015, None],
        "format": "csv",
        "shape": "long",
        "columns": {"代码": "area_code", "年份": "year", "a": "cnt"},
    }
    with pytest.raises(ValueError, match=message):
        Layout.model_validate({**base, **change})


def test_renamed_columns_follow_the_year_ranges(layouts, longhu):
    old = xlsx_bytes([V1, facility("F1", ZHUCHI, "公立", "乡镇卫生院")])
    new = xlsx_bytes([V2, facility("F1", ZHUCHI, "公立", "乡镇卫生院")])
    assert (
        parse_file("卫生资源年报_2016.xlsx", old, layouts, longhu, current_year=NOW).layout
        == "resources_v1"
    )
    assert (
        parse_file("2019/卫生资源年报.xlsx", new, layouts, longhu, current_year=NOW).layout
        == "resources_v2"
    )
    with pytest.raises(UnreadableFile) as e:  # the 2018 form renamed the columns
        parse_file("卫生资源年报_2019.xlsx", old, layouts, longhu, current_year=NOW)
    assert "resources_v2" in e.value.reason and "统一社会信用代码" in e.value.reason
    with pytest.raises(UnreadableFile, match="resources_v2.*2010–2017|2016"):
        parse_file("卫生资源年报_2016.xlsx", new, layouts, longhu, current_year=NOW)
    with pytest.raises(UnreadableFile, match="year"):
        parse_file("卫生资源年报.xlsx", new, layouts, longhu, current_year=NOW)
    with pytest.raises(UnreadableFile, match="future"):
        parse_file("卫生资源年报_2030.xlsx", new, layouts, longhu, current_year=NOW)


def test_ambiguous_layouts_are_an_error():
    twin = DEMO.model_copy(update={"source": "twin"})
    twin = SourceLayouts.model_validate(
        {**twin.model_dump(), "layouts": [{**DEMO.layouts[0].model_dump(), "id": "twin_v1"}]}
    )
    with pytest.raises(UnreadableFile, match="ambiguous"):
        parse_file("demo.csv", csv_bytes([HEADER, *ROWS]), [DEMO, twin], INFO, current_year=NOW)


def test_layouts_doc_example_is_valid():
    doc = Path(REPO_ROOT / "healthplan" / "layouts.py").read_text(encoding="utf-8")
    example = doc.split("File format (one source per file)::", 1)[1].split('"""', 1)[0]
    lines = []
    for line in example.splitlines()[1:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line[4:])
    data = yaml.safe_load("\n".join(lines))
    assert SourceLayouts.model_validate(data).layouts[0].id == "population_v1"
