"""Write the corpus of bad inputs (and the good baseline they are compared with), deterministically.

    uv run python tests/corpus/make_corpus.py          # rewrites tests/corpus/{baseline,files}
    uv run python tests/corpus/make_corpus.py --check  # exit 1 if a committed file differs

Every file is built from the real source layouts (plans/sources/*.yaml) and real area codes
(plans/longhu/areas.yaml, plans/guilin/areas.yaml); ``manifest.yaml`` says what each one must do.
The bad files repeat the baseline's values wherever they are good, so a run that loads their good
cells changes nothing the warehouse held: the tests can demand the stored data stay equal.

The binary files (XLSX, GBK, UTF-16, zip bombs) are written byte for byte the same on every run:
zip members get a fixed date, the workbook properties a fixed creation time.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

# openpyxl's own XML writer, not lxml's (python-docx installs lxml): the same bytes everywhere.
os.environ.setdefault("OPENPYXL_LXML", "False")

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline"
FILES = HERE / "files"
FIXED_TIME = datetime(2020, 1, 1, 0, 0, 0)

# ------------------------------------------------------------------------------------ the areas

LONGHU = ["440507001", "440507002", "440507003", "440507004", "440507005", "440507100", "440507101"]
LONGHU_NAMES = ["珠池街道", "新津街道", "金霞街道", "龙祥街道", "鸥汀街道", "外砂镇", "新溪镇"]
GUILIN = ["450302", "450303", "450304", "450305", "450311", "450312", "450321", "450323",
          "450324", "450325", "450326", "450327", "450328", "450329", "450330", "450331",
          "450332"]  # fmt: skip
GUILIN_NAMES = ["秀峰区", "叠彩区", "象山区", "七星区", "雁山区", "临桂区", "阳朔县", "灵川县", "全州县",
                "兴安县", "永福县", "灌阳县", "龙胜各族自治县", "资源县", "平乐县", "荔浦县",
                "恭城瑶族自治县"]  # fmt: skip

# ------------------------------------------------------------------------------------ headers

PH = ["地区代码", "地区", "年度", "免疫规划适龄儿童数", "免疫规划疫苗全程接种人数", "在管高血压患者数",
      "高血压患者规范管理人数", "在管糖尿病患者数", "糖尿病患者规范管理人数", "登记结核病患者数",
      "结核病患者管理人数", "新涂阳肺结核患者数", "新涂阳肺结核患者治愈数", "65岁以上老年人健康管理人数"]  # fmt: skip
MCH = ["地区代码", "地区名称", "年份", "活产数", "婴儿死亡数", "5岁以下儿童死亡数", "孕产妇死亡数",
       "住院分娩活产数", "孕产妇系统管理人数", "0-6岁儿童数", "0-6岁儿童健康管理人数", "3岁以下儿童数",
       "3岁以下儿童系统管理人数", "5岁以下儿童体检人数", "5岁以下儿童生长迟缓人数", "5岁以下儿童贫血人数",
       "围产儿数", "出生缺陷数"]  # fmt: skip
POP = ["行政区划代码", "地区名称", "年份", "常住人口（万人）", "65岁及以上常住人口（万人）", "出生人口（男）",
       "出生人口（女）", "死亡人口（人）", "地区生产总值（亿元）"]  # fmt: skip
RES = ["统一社会信用代码", "机构名称", "所在地区代码", "登记注册类型", "机构分类", "提供中医药服务（是/否）",
       "建设达标（是/否）", "实有床位数", "中医类床位数", "执业（助理）医师数",
       "其中：中医类别执业（助理）医师数", "注册护士数", "全科医生数", "专业公共卫生人员数",
       "卫生技术人员数", "卫生技术人员：本科及以上", "总诊疗人次数", "入院人次数"]  # fmt: skip
RES_V1 = ["机构代码", "机构名称", "行政区划代码", "经济类型", "机构类别", "是否提供中医药服务",
          "建设是否达标", "实有床位", "中医类床位", "执业(助理)医师", "中医类别执业(助理)医师", "注册护士",
          "全科医生", "专业公共卫生人员", "卫生技术人员", "本科及以上卫生技术人员", "总诊疗人次", "入院人数"]  # fmt: skip
EXP = ["地区代码", "地区", "年份", "卫生总费用（万元）", "政府卫生支出（万元）", "社会卫生支出（万元）",
       "个人卫生支出（万元）"]  # fmt: skip
SURVEY = ["地区代码", "地区", "年份", "居民健康素养水平（%）", "婴儿死亡率（‰）"]

YEAR = 2019

# ------------------------------------------------------------------------------------ rows


def ph_rows() -> list[list[object]]:
    rows = []
    for i, (code, name) in enumerate(zip(LONGHU, LONGHU_NAMES, strict=True)):
        eligible = 900 + 37 * i
        rows.append(
            [code, name, YEAR, eligible, eligible - 5 - i, 2400 + 53 * i, 1900 + 41 * i,
             800 + 29 * i, 640 + 23 * i, 40 + i, 38 + i, 12 + i, 11 + i, 3100 + 71 * i]
        )  # fmt: skip
    return rows


def mch_rows() -> list[list[object]]:
    rows = []
    for i, (code, name) in enumerate(zip(LONGHU, LONGHU_NAMES, strict=True)):
        births = 1200 + 61 * i
        rows.append(
            [code, name, YEAR, births, 3 + i % 3, 4 + i % 4, i % 2, births - 2, births - 40,
             7000 + 90 * i, 6500 + 80 * i, 3600 + 45 * i, 3300 + 40 * i, 5200 + 70 * i, 60 + i,
             150 + 3 * i, births + 8, 20 + i]
        )  # fmt: skip
    return rows


def pop_rows() -> list[list[object]]:
    rows = []
    for i, (code, name) in enumerate(zip(GUILIN, GUILIN_NAMES, strict=True)):
        rows.append(
            [code, name, YEAR, f"{20 + 3.17 * i:.2f}", f"{2 + 0.41 * i:.2f}", 1100 + 37 * i,
             1000 + 31 * i, 1234 + 17 * i, f"{80 + 11.3 * i:.1f}"]
        )  # fmt: skip
    return rows


FACILITIES = [
    # id, area index, ownership, type, tcm, standard, beds
    ("12440507MB2C00101X", 0, "公立", "社区卫生服务中心", "是", "是", 30),
    ("12440507MB2C00102X", 0, "公立", "社区卫生服务中心", "否", "是", 20),
    ("52440507MJ0000103Y", 0, "民营", "诊所", "是", "否", 0),
    ("12440507MB2C00201X", 1, "公立", "社区卫生服务中心", "是", "是", 25),
    ("12440507MB2C00202X", 1, "公立", "医院", "是", "是", 450),
    ("12440507MB2C00301X", 2, "公立", "社区卫生服务中心", "否", "否", 15),
    ("52440507MJ0000302Y", 2, "民营", "门诊部", "否", "否", 0),
    ("12440507MB2C00401X", 3, "公立", "社区卫生服务中心", "是", "是", 18),
    ("12440507MB2C00501X", 4, "公立", "社区卫生服务中心", "是", "否", 22),
    ("12440507MB2C01001X", 5, "公立", "乡镇卫生院", "是", "是", 60),
    ("12440507MB2C01002X", 5, "公立", "村卫生室", "否", "否", 0),
    ("12440507MB2C01101X", 6, "公立", "乡镇卫生院", "是", "是", 55),
]


def res_rows() -> list[list[object]]:
    rows = []
    for n, (fid, a, own, typ, tcm, std, beds) in enumerate(FACILITIES):
        rows.append(
            [fid, f"{LONGHU_NAMES[a]}{typ}{n + 1}", LONGHU[a], own, typ, tcm, std, beds,
             beds // 5, 6 + n, 1 + n % 3, 8 + 2 * n, 2 + n % 4, 1 + n % 2, 20 + 3 * n,
             10 + n, 30000 + 1500 * n, 40 * beds]
        )  # fmt: skip
    return rows


def exp_rows() -> list[list[object]]:
    rows = []
    for i, (code, name) in enumerate(zip(GUILIN, GUILIN_NAMES, strict=True)):
        gov, soc, per = 31000 + 1700 * i, 27000 + 1300 * i, 22000 + 900 * i
        rows.append([code, name, YEAR, gov + soc + per, gov, soc, per])
    return rows


def survey_rows() -> list[list[object]]:
    rows = []
    for i, (code, name) in enumerate(zip(LONGHU, LONGHU_NAMES, strict=True)):
        rows.append([code, name, YEAR, f"{18 + 1.5 * i:.1f}", f"{3.2 + 0.4 * i:.1f}"])
    return rows


# ------------------------------------------------------------------------------------ writers


def csv_text(rows: list[list[object]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8", bom: bool = False) -> bytes:
    data = csv_text(rows).encode(encoding)
    return codecs.BOM_UTF8 + data if bom else data


def normalize_zip(data: bytes) -> bytes:
    """The same zip with fixed member dates and fixed workbook timestamps (reproducible)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>2020-01-01T00:00:00Z\g<2>",
                    content,
                )
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            z.writestr(info, content)
    return out.getvalue()


def xlsx_bytes(
    rows: list[list[object]],
    *,
    sheet: str = "Sheet1",
    title: str | None = None,
    merges: list[str] = (),
    patch: Callable[[bytes], bytes] | None = None,
) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.properties.creator = "healthplan corpus"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    ws = wb.active
    ws.title = sheet
    if title is not None:
        ws.append([title])
    for row in rows:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if patch is not None:
        src = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for item in src.infolist():
                content = src.read(item.filename)
                if item.filename == "xl/worksheets/sheet1.xml":
                    content = patch(content)
                z.writestr(item, content)
        data = out.getvalue()
    return normalize_zip(data)


def xlsx_sheets(sheets: list[tuple[str, list[list[object]], str]]) -> bytes:
    """A workbook of several sheets: (name, rows, state), state 'visible' or 'hidden'."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.properties.creator = "healthplan corpus"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.remove(wb.active)
    for name, rows, state in sheets:
        ws = wb.create_sheet(name)
        ws.sheet_state = state
        for row in rows:
            ws.append(row)
    wb.active = next(i for i, (_, _, state) in enumerate(sheets) if state == "visible")
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_zip(buf.getvalue())


def cell_patch(replacements: dict[str, bytes]) -> Callable[[bytes], bytes]:
    """Replace whole <c r="REF" …>…</c> elements of the sheet XML (cached values, errors)."""

    def patch(xml: bytes) -> bytes:
        for ref, new in replacements.items():
            xml, n = re.subn(rb'<c r="' + ref.encode() + rb'"[^>]*?(?:/>|>.*?</c>)', new, xml)
            assert n == 1, (ref, n)
        return xml

    return patch


XLSX_SKELETON = {
    "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
    b'openxmlformats.org/package/2006/content-types"/>',
    "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
    b'openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>',
}


def zip_bomb_ratio(size: int = 6 * 2**20) -> bytes:
    """A few KB whose one sheet inflates to ``size`` bytes of blanks (about 1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, content in XLSX_SKELETON.items():
            z.writestr(zipfile.ZipInfo(name, FIXED_TIME.timetuple()[:6]), content)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", FIXED_TIME.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, b"<worksheet>" + b" " * size + b"</worksheet>", compresslevel=9)
    return out.getvalue()


def zip_bomb_overlap(members: int = 80, size: int = 4 * 2**20) -> bytes:
    """Overlapping entries: ``members`` central-directory entries all pointing at one compressed
    blob, so a few KB declare members × size bytes (the 'non-recursive zip bomb')."""
    blob = b" " * size
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = comp.compress(blob) + comp.flush()
    crc = zlib.crc32(blob)
    dostime, dosdate = 0, (2020 - 1980) << 9 | 1 << 5 | 1
    local = io.BytesIO()
    entries = []
    parts = [(n, 0, c, c) for n, c in XLSX_SKELETON.items()]  # the skeleton, stored
    parts.append(("xl/worksheets/sheet1.xml", 8, deflated, blob))
    for name, method, stored, raw in parts:
        offset = local.tell()
        fname = name.encode()
        c = zlib.crc32(raw)
        local.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                method,
                dostime,
                dosdate,
                c,
                len(stored),
                len(raw),
                len(fname),
                0,
            )  # fmt: skip
            + fname
            + stored
        )
        entries.append((fname, method, c, len(stored), len(raw), offset))
    sheet = entries[-1]
    for i in range(1, members):  # the same blob again and again, under other names
        entries.append(
            (f"xl/worksheets/sheet{i + 1}.xml".encode(), 8, crc, sheet[3], sheet[4], sheet[5])
        )
    central = io.BytesIO()
    for fname, method, c, csize, usize, offset in entries:
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                dostime,
                dosdate,
                c,
                csize,
                usize,
                len(fname),
                0,
                0,
                0,
                0,
                0,
                offset,
            )  # fmt: skip
            + fname
        )
    start = local.tell()
    cd = central.getvalue()
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), start, 0)
    return local.getvalue() + cd + eocd


def mojibake(text: str) -> str:
    """UTF-8 text read as Windows-1252 and saved again as UTF-8: '地区' → 'åœ°åŒº' (bytes that
    Windows-1252 leaves undefined pass through as Latin-1, as browsers and Excel do)."""
    return "".join(
        bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in text.encode("utf-8")
    )


def replace(rows: list[list[object]], row: int, col: int, value: object) -> list[list[object]]:
    """A copy of data rows with one cell changed (``row``: 0-based data row)."""
    out = [list(r) for r in rows]
    out[row][col] = value
    return out


# ------------------------------------------------------------------------------------ the corpus


def baseline_files() -> dict[str, bytes]:
    return {
        "public_health_longhu_2019.csv": csv_bytes([PH, *ph_rows()], bom=True),
        "mch_longhu_2019.csv": csv_bytes([MCH, *mch_rows()], "gbk"),
        "population_guilin_2019.csv": csv_bytes([POP, *pop_rows()]),
        "卫生资源年报_2019.xlsx": xlsx_bytes([RES, *res_rows()]),
        "expenditure_guilin_2019.xlsx": xlsx_bytes(
            [EXP, *exp_rows()], sheet="卫生费用", title="2019年卫生费用核算表", merges=["A1:G1"]
        ),
        "survey_longhu_2019.csv": csv_bytes([SURVEY, *survey_rows()], bom=True),
    }


def bad_files() -> dict[str, bytes]:  # noqa: PLR0915 - one long, flat list reads best here
    ph, mch, pop, res, exp = ph_rows(), mch_rows(), pop_rows(), res_rows(), exp_rows()
    survey = survey_rows()
    f: dict[str, bytes] = {}

    # ---- encodings
    f["ph_mojibake_2019.csv"] = codecs.BOM_UTF8 + mojibake(csv_text([PH, *ph])).encode("utf-8")
    f["mch_utf16_no_bom_2019.csv"] = csv_text([MCH, *mch]).encode("utf-16-le")
    gbk = csv_text([MCH, *mch]).encode("gbk")
    lines = gbk.split(b"\r\n")
    lines[4] = lines[4].replace(b",", b",\xff", 1)  # a byte no Chinese encoding has, row 5
    f["mch_gbk_bad_byte_2019.csv"] = b"\r\n".join(lines)
    mixed = csv_text([MCH, *mch[:2]]).encode("gbk") + csv_text(mch[2:]).encode("utf-8")
    f["mch_mixed_gbk_utf8_2019.csv"] = mixed
    bom_bad = csv_bytes([PH, *ph], bom=True).split(b"\r\n")
    bom_bad[3] = bom_bad[3].replace("金霞街道".encode(), "金霞街道".encode("gbk"))
    f["ph_bom_but_gbk_line_2019.csv"] = b"\r\n".join(bom_bad)
    pop_rare = [list(r) for r in pop]
    pop_rare[0][1] = "秀峰区𠀀"  # a CJK Extension B character: GB18030 only, not GBK
    f["population_gb18030_2019.csv"] = csv_text([POP, *pop_rare]).encode("gb18030")
    f["mch_excel_unicode_text_2019.csv"] = codecs.BOM_UTF16_LE + csv_text([MCH, *mch]).replace(
        ",", "\t"
    ).encode("utf-16-le")
    f["ph_gbk_not_utf8_2019.csv"] = csv_bytes([PH, *ph], "gbk")

    # ---- truncated, empty, header only
    full = csv_bytes([PH, *ph], bom=True)
    last = full.rindex(b"\r\n", 0, len(full) - 2)
    f["ph_truncated_mid_row_2019.csv"] = full[: last + 40]  # row 8 cut after a few cells
    mid_char = full.index("新溪镇".encode()) + 1  # inside the first character's three bytes
    f["ph_truncated_mid_character_2019.csv"] = full[:mid_char]
    good_res = xlsx_bytes([RES, *res])
    f["resources_truncated_2019.xlsx"] = good_res[: len(good_res) // 2]
    f["ph_empty_2019.csv"] = b""
    f["ph_blank_lines_only_2019.csv"] = codecs.BOM_UTF8 + b"\r\n \r\n\t\r\n"
    f["ph_header_only_2019.csv"] = csv_bytes([PH], bom=True)
    f["expenditure_header_only_2019.xlsx"] = xlsx_bytes(
        [EXP], sheet="卫生费用", title="2019年卫生费用核算表"
    )
    f["resources_empty_workbook_2019.xlsx"] = xlsx_bytes([])

    # ---- columns: missing, extra, renamed, reordered, an old form
    f["mch_missing_column_2019.csv"] = csv_bytes(
        [[c for j, c in enumerate(r) if j != 4] for r in [MCH, *mch]], "gbk"
    )
    f["ph_extra_columns_2019.csv"] = csv_bytes(
        [[*PH, "备注", "填报人"], *[[*r, "", "王五"] for r in ph]], bom=True
    )
    f["ph_unknown_element_column_2019.csv"] = csv_bytes(
        [[*PH, "新冠疫苗全程接种人数"], *[[*r, 100 + i] for i, r in enumerate(ph)]], bom=True
    )
    f["ph_renamed_column_2019.csv"] = csv_bytes(
        [[("高血压患者管理人数" if c == "在管高血压患者数" else c) for c in PH], *ph], bom=True
    )
    order = [2, 0, 1, *range(8, 3, -1), 3, *range(9, len(POP))]
    head = [POP[j] for j in order]
    head[head.index("常住人口（万人）")] = "常住人口\n(万人)"  # half-width brackets, a line break
    f["population_reordered_columns_2019.csv"] = csv_bytes(
        [head, *[[r[j] for j in order] for r in pop]]
    )
    f["resources_2019_old_form.xlsx"] = xlsx_bytes(
        [RES_V1, *res]  # the 2010–2017 headers on a 2019 file
    )

    # ---- XLSX: merged header, merged cells in the data, formulas, error values
    exp_head = list(EXP)
    exp_head[5] = None  # 社会卫生支出 hidden under the merged 政府卫生支出 cell
    f["expenditure_merged_header_2019.xlsx"] = xlsx_bytes(
        [exp_head, *exp], sheet="卫生费用", title="2019年卫生费用核算表", merges=["A1:G1", "E2:F2"]
    )
    merged_rows = [list(r) for r in exp]
    for r in merged_rows[1:]:
        r[2] = None  # 年份 C3:C19 merged: one year for every row
    merged_rows[3][4] = None  # 政府卫生支出 E6:E7 merged over two counties
    f["expenditure_merged_cells_2019.xlsx"] = xlsx_bytes(
        [EXP, *merged_rows],
        sheet="卫生费用",
        title="2019年卫生费用核算表",
        merges=["A1:G1", "C3:C19", "E6:E7"],
    )
    formula = [list(r) for r in exp]
    for r in formula:
        r[3] = f"=E{formula.index(r) + 3}+F{formula.index(r) + 3}+G{formula.index(r) + 3}"
    f["expenditure_formulas_without_values_2019.xlsx"] = xlsx_bytes(
        [EXP, *formula], sheet="卫生费用", title="2019年卫生费用核算表"
    )
    cached = {
        f"D{i + 3}": (
            f'<c r="D{i + 3}"><f>E{i + 3}+F{i + 3}+G{i + 3}</f><v>{r[3]}</v></c>'.encode()
        )
        for i, r in enumerate(exp)
    }
    f["expenditure_formulas_with_values_2019.xlsx"] = xlsx_bytes(
        [EXP, *formula], sheet="卫生费用", title="2019年卫生费用核算表", patch=cell_patch(cached)
    )
    errors = {
        "H4": b'<c r="H4" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
        "J6": b'<c r="J6" t="e"><f>VLOOKUP(A6,X:Y,2,0)</f><v>#N/A</v></c>',
    }
    f["resources_2019_excel_errors.xlsx"] = xlsx_bytes([RES, *res], patch=cell_patch(errors))

    # ---- keys, values, numbers as text
    f["mch_duplicate_rows_2019.csv"] = csv_bytes(
        [MCH, *mch[:3], replace(mch, 1, 3, 9999)[1], *mch[3:]], "gbk"
    )
    f["resources_2019_duplicate_facility.xlsx"] = xlsx_bytes(
        [RES, *res, replace(res, 4, 7, 900)[4]]
    )
    f["ph_negative_counts_2019.csv"] = csv_bytes(
        [PH, *replace(replace(ph, 1, 5, -2401), 4, 13, "-5")], bom=True
    )
    f["ph_percent_in_count_column_2019.csv"] = csv_bytes([PH, *replace(ph, 2, 4, "105%")], bom=True)
    decimal_commas = [[*r[:3], *(str(v).replace(".", ",") for v in r[3:])] for r in survey]
    f["survey_semicolons_decimal_commas_2019.csv"] = (
        codecs.BOM_UTF8 + csv_text([SURVEY, *decimal_commas], delimiter=";").encode()
    )
    f["ph_fractional_child_count_2019.csv"] = csv_bytes([PH, *replace(ph, 1, 4, "1.172")], bom=True)
    f["ph_huge_child_count_2019.csv"] = csv_bytes([PH, *replace(ph, 2, 4, "1e308")], bom=True)
    f["ph_overflowing_number_2019.csv"] = csv_bytes([PH, *replace(ph, 3, 5, "1e400")], bom=True)
    f["ph_rows_last_year_2019.csv"] = csv_bytes(
        [PH, *[[*r[:2], YEAR - 1, *r[3:]] for r in ph]], bom=True
    )
    f["survey_share_over_100_2019.csv"] = csv_bytes(
        [SURVEY, *replace(replace(survey, 1, 3, "120.5"), 3, 4, "1200")], bom=True
    )
    pm = replace(survey, 0, 4, "0.32%")  # 3.2 ‰ written as 0.32 %
    pm = replace(pm, 2, 3, "210‰")  # 21.0 % written as 210 ‰
    f["survey_permille_as_percent_2019.csv"] = csv_bytes([SURVEY, *pm], bom=True)
    text = [list(r) for r in pop]
    text[0][7] = f"{text[0][7]:,}"  # "1,234"
    text[1][5] = str(text[1][5]).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    text[2][8], text[3][8], text[4][8], text[5][6] = "—", "-", "", " "
    text[6][3] = f" {text[6][3]} "
    f["population_numbers_as_text_2019.csv"] = csv_bytes([POP, *text])
    bad_text = replace(replace(replace(mch, 0, 3, "1,23"), 1, 4, "3人"), 2, 5, "壹佰")
    bad_text = replace(bad_text, 3, 6, "1.2.3")
    f["mch_numbers_not_numbers_2019.csv"] = csv_bytes([MCH, *bad_text], "gbk")
    unquoted = csv_text([PH, *ph]).split("\r\n")
    unquoted[3] = unquoted[3].replace(",2506,", ",2,506,")  # 1,234 without quotes
    f["ph_unquoted_thousands_2019.csv"] = codecs.BOM_UTF8 + "\r\n".join(unquoted).encode()
    f["ph_total_differs_from_parts_2019.csv"] = csv_bytes(
        [PH, *ph, ["440507", "龙湖区", YEAR, *[sum(r[j] for r in ph) + 1 for j in range(3, 14)]]],
        bom=True,
    )

    # ---- areas, codes, years
    f["ph_unknown_areas_2019.csv"] = csv_bytes(
        [
            PH,
            *ph,
            ["440508001", "不存在街道", YEAR, *ph[0][3:]],
            ["44O5O7001", "字母O", YEAR, *ph[0][3:]],
        ],
        bom=True,
    )
    f["resources_2019_unknown_codes.xlsx"] = xlsx_bytes(
        [RES, *res,
         ["12440507MB2C00901X", "某养老院", LONGHU[0], "公立", "养老院", "否", "否", 100, 0, 1, 0, 5, 0,
          0, 6, 2, 900, 0],
         ["91440507MA0000902Z", "某外资医院", LONGHU[1], "外资", "医院", "否", "是", 80, 0, 9, 0, 20, 0,
          0, 30, 20, 50000, 2000]]
    )  # fmt: skip
    years = [list(r) for r in mch]
    years[1][2], years[2][2], years[3][2] = "二〇一九", "19", 2005
    years[4][2] = "2019年度"  # understood
    f["mch_unparseable_years_2019.csv"] = csv_bytes([MCH, *years], "gbk")
    f["ph_future_year_2019.csv"] = csv_bytes(
        [PH, *ph, [LONGHU[0], LONGHU_NAMES[0], 2099, *ph[0][3:]]], bom=True
    )
    f["卫生资源年报_2099.xlsx"] = xlsx_bytes([RES, *res[:6]])

    # ---- hostile text: extremely long strings, HTML, script, terminal markup
    long = [list(r) for r in pop]
    long[0][1] = "秀峰区" + "峰" * 3 + "A" * 40_000  # 40,006 characters: cut to Excel's 32,767
    long[1][0] = "4" * 5_000  # an area code of 5,000 digits
    f["population_long_strings_2019.csv"] = csv_bytes([POP, *long])
    html = [list(r) for r in ph]
    html[0][1] = '<script>alert("珠池")</script>'
    html[1][0] = '<img src=x onerror="alert(1)">'
    html[2][4] = "[bold red]980[/] <b>980</b>"
    f["ph_html_and_script_2019.csv"] = csv_bytes(
        [[*PH, "<a href='javascript:alert(1)'>备注</a>"], *[[*r, ""] for r in html]], bom=True
    )

    # ---- not what the name says; zip bombs
    f["resources_2019_encrypted_or_xls.xlsx"] = (
        bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504) + b"EncryptedPackage" * 8
    )
    f["ph_png_renamed_2019.csv"] = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
        + bytes(range(256)) * 4
    )
    f["resources_2019_zip_bomb_ratio.xlsx"] = zip_bomb_ratio()
    f["resources_2019_zip_bomb_overlap.xlsx"] = zip_bomb_overlap()

    # ---- far cells: a blank one is dropped; one the sheet's dimension hides kills the reader
    f["resources_2019_far_blank_cell.xlsx"] = xlsx_bytes([RES, *res], patch=far_blank_cell)
    f["resources_2019_far_cell_hidden_by_dimension.xlsx"] = xlsx_bytes(
        [RES, *res], patch=far_cell_hidden_by_dimension
    )
    f["resources_2019_far_value_cell.xlsx"] = xlsx_bytes([RES, *res], patch=far_value_cell)

    # ---- several sheets
    f["resources_2019_hidden_stale_sheet.xlsx"] = xlsx_sheets(
        [("旧表", [RES, *res], "hidden"), ("卫生资源", [RES, *res], "visible")]
    )
    f["resources_2019_two_visible_sheets.xlsx"] = xlsx_sheets(
        [("卫生资源", [RES, *res], "visible"), ("卫生资源（副本）", [RES, *res], "visible")]
    )
    return f


def far_blank_cell(xml: bytes) -> bytes:
    """One blank text cell typed in the sheet's last cell (XFD1048576) and the sheet's extent
    widened to it: a reader sizing its grid from the extent asks for 16,384 × 1,048,576 cells."""
    xml = xml.replace(
        b"</sheetData>",
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t></t></is></c></row></sheetData>',
    )
    xml, n = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576" />', xml)
    assert n == 1
    return xml


def far_cell_hidden_by_dimension(xml: bytes) -> bytes:
    """The same blank cell at XFD1048576, but the sheet's dimension still declares only the
    table: the extent check trusts it, and the reader, growing its grid to the far cell, dies."""
    return xml.replace(
        b"</sheetData>",
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t></t></is></c></row></sheetData>',
    )


def far_value_cell(xml: bytes) -> bytes:
    """A number typed in the sheet's last cell (XFD1048576), the extent widened to it: not blank,
    so it cannot be dropped."""
    xml = xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>7</v></c></row></sheetData>'
    )
    xml, n = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576" />', xml)
    assert n == 1
    return xml


def build() -> dict[Path, bytes]:
    out = {BASELINE / name: data for name, data in baseline_files().items()}
    out.update({FILES / name: data for name, data in bad_files().items()})
    return out


def main(argv: list[str]) -> int:
    files = build()
    if "--check" in argv:
        wrong = [p for p, d in files.items() if not p.exists() or p.read_bytes() != d]
        for p in wrong:
            print(f"differs: {p.relative_to(HERE)}")
        return 1 if wrong else 0
    for folder in (BASELINE, FILES):
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            if old.is_file() and old not in files:
                old.unlink()
    for path, data in files.items():
        path.write_bytes(data)
    print(f"wrote {len(files)} files under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
