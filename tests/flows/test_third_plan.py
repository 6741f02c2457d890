"""A third, 十四五-style plan added purely as data runs through the whole pipeline.

2020 baseline, 2025 targets, mid-term 2023; a new data element reported by a new source with its
own layout. No code names it: the test writes YAML and input files, then runs the pipeline flow.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ROOT_CODE = "999901"
UNITS = {"999901001": 0.55, "999901100": 0.45}  # population shares of the street and the town
NEW_SOURCE = {
    "source": "mental_health",
    "name_zh": "心理健康服务统计",
    "name_en": "Mental-health services",
    "publisher_zh": "区卫生健康局",
    "layouts": [
        {
            "id": "mental_health_v1",
            "years": [2020, None],
            "format": "csv",
            "header_row": 1,
            "shape": "long",
            "columns": {
                "地区代码": "area_code",
                "地区名称": {"field": "area_name", "required": False},
                "年份": "year",
                "心理健康服务人员数（人）": "third_mental_health_workers",
            },
        }
    ],
}


def header_values(layout, fields: dict, elements: dict) -> tuple[list[str], list]:
    """One row in a layout: each column filled from a field or an (element, stratum) value."""
    inverse = {k: {v: src for src, v in m.items()} for k, m in layout.value_maps.items()}
    headers, values = [], []
    for header, col in layout.columns.items():
        headers.append(header)
        if col.field:
            v = fields.get(col.field, "")
            if col.field in inverse and v in inverse[col.field]:
                v = inverse[col.field][v]
        elif col.flag:
            v = "否"
        else:
            v = elements.get((col.element, col.stratum), elements.get(col.element, 0))
            v = round(v / col.scale, 6) if col.scale != 1 else v
        values.append(v)
    return headers, values


def write_file(path: Path, layout, rows: list[tuple[dict, dict]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    built = [header_values(layout, f, e) for f, e in rows]
    headers = built[0][0]
    if layout.format == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(headers)
            w.writerows(v for _, v in built)
        return
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    if layout.sheet:
        ws.title = layout.sheet
    for _ in range(layout.header_row - 1):
        ws.append(["（标题）"])
    ws.append(headers)
    for _, v in built:
        ws.append(v)
    wb.save(path)


def generated_inputs(plans_dir: Path, inbox: Path) -> None:
    """Small, plausible yearly files for 2020–2025 in each source's own layout."""
    from healthplan.definitions import load_catalog
    from healthplan.layouts import load_layouts

    cat = load_catalog(plans_dir)
    layouts = load_layouts(plans_dir / "sources", cat.elements)
    for k, year in enumerate(range(2020, 2026)):
        for source, shape_rows in {
            "population": [
                ({"area_code": code, "area_name": code, "year": year},
                 {"pop_resident": round(200_000 * share * (1 + 0.01 * k)),
                  "pop_65plus": round(25_000 * share), ("births", "male"): 900 * share,
                  ("births", "female"): round(850 * share), "deaths": 1200 * share, "gdp": 5e6 * share,
                  "life_expectancy": 78.5 + 0.15 * k + (0.2 if share > 0.5 else -0.2)})
                for code, share in UNITS.items()
            ],
            "resources": [
                ({"facility_id": f"F{code}", "facility_name": "某医院", "area_code": code,
                  "year": year, "ownership": "public", "type": "hospital"},
                 {"doctors": round(520 * share * (1 + 0.03 * k)), "beds": 900 * share,
                  "nurses": 600 * share})
                for code, share in UNITS.items()
            ],
            "mental_health": [
                ({"area_code": code, "area_name": code, "year": year},
                 {"third_mental_health_workers": round(40 * share * (1 + 0.12 * k))})
                for code, share in UNITS.items()
            ],
        }.items():  # fmt: skip
            layout = layouts.layout_for(source, year)
            ext = layout.format
            write_file(inbox / str(year) / f"{source}_{year}.{ext}", layout, shape_rows)


@pytest.fixture
def third_plan(tmp_path, monkeypatch, prefect_harness):
    from tests.conftest import _clear_caches

    plans_dir = tmp_path / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans_dir)
    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(plans_dir))
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    _clear_caches()
    from flows.plans import new_command, validate_command

    assert new_command("third") == 0
    (plans_dir / "sources" / "mental_health.yaml").write_text(
        yaml.safe_dump(NEW_SOURCE, allow_unicode=True), encoding="utf-8"
    )
    assert validate_command(plans_dir / "third") == 0
    generated_inputs(plans_dir, tmp_path / "inbox")
    yield tmp_path
    _clear_caches()


def test_a_third_plan_added_as_data_gets_its_mid_and_end_term_reports(third_plan):
    from flows.pipeline import pipeline_flow

    state = pipeline_flow(plans=["third"], inbox=str(third_plan / "inbox"), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    pdfs = sorted(Path(p).name for p in result["reports"] if p.endswith(".pdf"))
    assert pdfs == ["third_end_2025.pdf", "third_mid_2023.pdf"]
    assert result["ingest_exit_code"] == 0
    mid = result["statuses"]["third/mid"]
    assert sum(mid.values()) == 4 and mid.get("数据缺失") == 1  # the split target has no source
    for name in pdfs:
        text = subprocess.run(
            ["pdftotext", "-layout", str(third_plan / "reports" / name), "-"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "某某区卫生健康事业发展“十四五”规划" in text.replace("\n", "")
        assert "每万人口心理健康服务人员数" in text
    from flows.evaluate import assess

    a = assess("third", "end")
    rows = {r["number"]: r for r in a.root_rows()}
    assert a.data_year == 2025 and rows[1]["baseline_year"] == 2020
    # 2025: workers 35 + 29 over residents 115,500 + 94,500, per 10,000
    assert rows[3]["value"] == pytest.approx(64 / 210_000 * 10_000)
    assert rows[3]["status"] == "未完成"  # 3.05 against a target of 4.5, from no baseline
