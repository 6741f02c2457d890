"""Tiny inline files for the parsing tests: a demo layout and catalog, CSV/XLSX bytes."""

from __future__ import annotations

import csv
import io

import openpyxl

from healthplan.definitions import Area, DataElement
from healthplan.layouts import SourceLayouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import (
    CatalogInfo,
    parse_file,
)

PLANS = REPO_ROOT / "plans"
CORE_SOURCES = ("population", "resources", "mch", "public_health", "expenditure")
NOW = 2024


AREAS = [
    Area(code="100", name_zh="市", name_en="City", level="city"),
    Area(code="101", name_zh="甲区", name_en="A", level="district", parent="100"),
    Area(code="102", name_zh="乙区", name_en="B", level="district", parent="100"),
]
ELEMENTS = {
    e.code: e
    for e in [
        DataElement(code="cnt", name_zh="人数", name_en="n", unit="人", source="demo"),
        DataElement(code="pop", name_zh="人口", name_en="p", unit="人", source="demo"),
        DataElement(
            code="share", name_zh="比例", name_en="s", unit="%", source="demo", kind="rate"
        ),
        DataElement(
            code="mort", name_zh="死亡率", name_en="m", unit="‰", source="demo", kind="rate"
        ),
        DataElement(
            code="temp",
            name_zh="温度",
            name_en="t",
            unit="℃",
            source="demo",
            kind="measure",
            min=None,
        ),
    ]
}
INFO = CatalogInfo.from_areas(ELEMENTS, AREAS)
DEMO = SourceLayouts.model_validate(
    {
        "source": "demo",
        "name_zh": "示例",
        "publisher_zh": "测试局",
        "layouts": [
            {
                "id": "demo_v1",
                "years": [2015, None],
                "format": "csv",
                "shape": "long",
                "columns": {
                    "地区代码": "area_code",
                    "地区": {"field": "area_name", "required": False},
                    "年份": "year",
                    "人数": "cnt",
                    "人口（万人）": {"element": "pop", "scale": 10000},
                    "比例(%)": {"element": "share", "required": False},
                    "死亡率(‰)": {"element": "mort", "required": False},
                    "温度": {"element": "temp", "required": False},
                },
            }
        ],
    }
)
ROWS = [["100", "市", 2020, "30", "1.5"], ["101", "甲区", 2020, "10", "0.5"]]
HEADER = ["地区代码", "地区", "年份", "人数", "人口（万人）"]


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if c is None else c for c in row] for row in rows])
    return buf.getvalue().encode(encoding)


def xlsx_bytes(
    rows: list[list[object]], sheet: str | None = None, title: str | None = None
) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    if sheet:
        ws.title = sheet
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def demo(rows: list[list[object]], header: list[str] = HEADER, **kw):
    return parse_file("demo.csv", csv_bytes([header, *rows]), [DEMO], INFO, current_year=NOW, **kw)


def value(parsed, area: str, element: str, stratum: str = "", year: int = 2020) -> float | None:
    g = parsed.good
    sel = g[
        (g.area_code == area) & (g.element == element) & (g.stratum == stratum) & (g.year == year)
    ]
    return None if sel.empty else float(sel["value"].iloc[0])


def reasons(parsed) -> list[tuple[int | None, str | None, str]]:
    return [(r.row, r.field, r.reason) for r in parsed.rejects]


V1 = ["机构代码", "机构名称", "行政区划代码", "经济类型", "机构类别", "是否提供中医药服务",
      "建设是否达标", "实有床位", "中医类床位", "执业(助理)医师", "中医类别执业(助理)医师", "注册护士",
      "全科医生", "专业公共卫生人员", "卫生技术人员", "本科及以上卫生技术人员", "总诊疗人次", "入院人数"]  # fmt: skip
V2 = ["统一社会信用代码", "机构名称", "所在地区代码", "登记注册类型", "机构分类", "提供中医药服务（是/否）",
      "建设达标（是/否）", "实有床位数", "中医类床位数", "执业（助理）医师数",
      "其中：中医类别执业（助理）医师数", "注册护士数", "全科医生数", "专业公共卫生人员数",
      "卫生技术人员数", "卫生技术人员：本科及以上", "总诊疗人次数", "入院人次数"]  # fmt: skip
ZHUCHI, XINJIN = "440507001", "440507002"


def facility(fid, area, own, typ, tcm="是", std="否", beds=10, **kw):
    row = [fid, f"机构{fid}", area, own, typ, tcm, std, beds, 2, 5, 1, 6, 2, 0, 15, 5, 1000, 50]
    for i, v in kw.items():
        row[int(i[1:])] = v
    return row
