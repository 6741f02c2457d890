"""The sample generator: deterministic, faithful to the plans' 2015 figures, internally consistent,
covering every status of the method in both plans, and readable by the real parser."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthplan.definitions import Term, load_catalog
from healthplan.layouts import load_layouts
from healthplan.settings import REPO_ROOT
from samples.generator import (
    BASELINE_EXCEPTIONS,
    EXPECTED,
    REQUIRED,
    RESOURCE_FLAGS,
    RESOURCE_NUMBERS,
    baseline_check,
    sample_truth,
    status_coverage,
    status_rows,
    write_sample,
)
from transforms.indicators import AreaTree, indicator_values, roll_up_sum, term_values

INBOX = REPO_ROOT / "samples" / "inbox"

# --------------------------------------------------------------------------- stated 2015 figures
# (plan, indicator number or element term, stated value, tolerance, where the plan states it).
# Indicators are computed with transforms.indicators.indicator_values; element terms are the
# root total of the element (summed up the area tree). Tolerance: half a unit of the last printed
# digit; for '＞95' / '95%以上' the value must also lie on the stated side.
STATED = [
    # Longhu — the 主要指标 table (十二五实现值) …
    ("longhu", 1, 76.3, 0.05, "主要指标表 1 人均期望寿命"),
    ("longhu", 2, 0.9, 0.05, "主要指标表 2 婴儿死亡率‰"),
    ("longhu", 4, 95.0, 0.5, "主要指标表 4 以镇为单位接种率 '＞95'"),
    ("longhu", 5, 68.93, 0.005, "主要指标表 5 高血压规范管理率"),
    ("longhu", 6, 73.21, 0.005, "主要指标表 6 糖尿病规范管理率"),
    ("longhu", 7, 92.38, 0.005, "主要指标表 7 0-6岁儿童健康管理率"),
    ("longhu", 8, 93.06, 0.005, "主要指标表 8 孕产妇系统管理率"),
    ("longhu", 9, 90.0, 0.5, "主要指标表 9 结核病患者管理率"),
    ("longhu", 10, 74.18, 0.005, "主要指标表 10 老年人健康管理率"),
    ("longhu", 11, 2.07, 0.005, "主要指标表 11 公立医院床位/千人"),
    ("longhu", 12, 0.30, 0.005, "主要指标表 12 社会办床位/千人"),
    ("longhu", 13, 1.58, 0.005, "主要指标表 13 执业（助理）医师/千人"),
    ("longhu", 14, 1.41, 0.005, "主要指标表 14 注册护士/千人"),
    ("longhu", 15, 0.89, 0.005, "主要指标表 15 医护比 1:0.89"),
    ("longhu", 16, 0.09, 0.005, "主要指标表 16 全科医师/千人"),
    ("longhu", 17, 0.32, 0.005, "主要指标表 17 公共卫生人员/千人"),
    ("longhu", 18, 32.23, 0.005, "主要指标表 18 卫技人员本科比例"),
    ("longhu", 19, 74.5, 0.05, "主要指标表 19 基层机构建设达标率"),
    ("longhu", 20, 16.36, 0.005, "主要指标表 20 社会办诊疗量比例"),
    ("longhu", 21, 82.62, 0.005, "主要指标表 21 提供中医药服务的基层机构"),
    ("longhu", 23, 58.41, 0.005, "主要指标表 23 基层诊疗量占比"),
    ("longhu", 26, 0.0, 0.05, "主要指标表 26 省卫生镇比例"),
    ("longhu", 27, 24.8, 0.05, "主要指标表 27 省卫生村人口受益率"),
    ("longhu", 28, 40.0, 0.5, "主要指标表 28 基本公卫经费人均标准"),
    ("longhu", 29, 27.94, 0.005, "主要指标表 29 个人卫生支出占比"),
    ("longhu", 30, 45.22, 0.005, "主要指标表 30 政府卫生投入占比"),
    # … and the text's counts where they agree with the table
    ("longhu", "doctors", 731, 0, "一(二)3 执业（助理）医师731人"),
    ("longhu", "visits", 1_261_543, 0, "一(三)1 总诊疗1261543人次"),
    ("longhu", "visits[private:hospital]", 169_887, 0, "一(三)1 民营医院169887人次"),
    ("longhu", "visits[*:thc,*:chc]", 459_273, 0, "一(三)1 乡镇卫生院和社区卫生服务中心459273人次"),
    ("longhu", "admissions", 24_420, 0, "一(三)1 入院24420人次"),
    ("longhu", "admissions[*:hospital,*:tcm_hospital]", 22_235, 0, "一(三)1 医院22235人次"),
    ("longhu", "admissions[public:hospital]", 17_257, 0, "一(三)1 公立医院入院17257人次"),
    ("longhu", "admissions[private:hospital]", 4_978, 0, "一(三)1 民营医院4978人"),
    ("longhu", "beds[*:thc,*:chc]", 109, 0, "一(二)2 基层医疗卫生机构109张"),
    ("longhu", "facilities[public:hospital]", 3, 0, "一(二)1 公立医院3个"),
    ("longhu", "facilities[private:hospital]", 3, 0, "一(二)1 民营医院3个"),
    ("longhu", "facilities[*:thc]", 2, 0, "一(二)1 乡镇卫生院2个"),
    ("longhu", "facilities[*:chc]", 3, 0, "一(二)1 社区卫生服务中心3个"),
    ("longhu", "facilities[*:village]", 32, 0, "一(二)1 农村卫生站32个"),
    ("longhu", "facilities[*:phi]", 2, 0, "一(二)1 疾病预防控制中心1个，卫生计生监督机构1个"),
    ("longhu", "maternal_managed", 7_036, 0, "一(一)2 孕产妇系统管理7036人"),
    ("longhu", "children_0_6_managed", 56_334, 0, "一(一)2 0-6岁儿童系统管理56334人"),
    ("longhu", "maternal_deaths", 0, 0, "一(一)2 孕产妇死亡率为0"),
    # Guilin — 附件1 indicators with the 2015 values of the text (section 一)
    ("guilin", 1, 77.88, 0.005, "一(一)1 平均期望寿命77.88岁"),
    ("guilin", 2, 4.13, 0.005, "一(一)1 婴儿死亡率4.13‰"),
    ("guilin", 3, 5.92, 0.005, "一(一)1 5岁以下儿童死亡率5.92‰"),
    ("guilin", 4, 18.93, 0.005, "一(一)1 孕产妇死亡率18.93/10万"),
    ("guilin", 5, 108.0, 0.5, "一(一)6 出生人口性别比108左右"),
    ("guilin", 6, 6.31, 0.005, "一(一)6 人口自然增长率6.31‰"),
    ("guilin", 7, 1.73, 0.005, "一(一)6 总和生育率1.73"),
    ("guilin", 9, 96.0, 0.5, "一(一)4 新涂阳肺结核患者治愈率96%"),
    ("guilin", 12, 95.0, 0.5, "一(一)4 各种疫苗报告接种率均在95%以上"),
    ("guilin", (13, "rural"), 75.0, 0.5, "一(一)4 农村重点慢性病防治知识知晓率75%"),
    ("guilin", (13, "urban"), 78.0, 0.5, "一(一)4 城镇重点慢性病防治知识知晓率78%"),
    ("guilin", 20, 107.38, 0.005, "一(一)4 孕前优生健康检查目标人群覆盖率107.38%"),
    ("guilin", 21, 99.99, 0.005, "一(一)4 孕产妇住院分娩率99.99%"),
    ("guilin", 22, 97.61, 0.005, "一(一)4 孕产妇系统管理率97.61%"),
    ("guilin", 25, 95.34, 0.005, "一(一)4 3岁以下儿童系统管理率95.34%"),
    ("guilin", 26, 10.44, 0.005, "一(一)4 新生儿出生缺陷发生率10.44‰"),
    ("guilin", 27, 95.83, 0.005, "一(一)4 新生儿疾病筛查率95.83%"),
    ("guilin", 33, 2.19, 0.005, "一(一)3 执业（助理）医师数2.19人/千人口"),
    ("guilin", 34, 1.01, 0.005, "一(一)3 公共卫生人员数1.01人"),
    ("guilin", 35, 2.51, 0.005, "一(一)3 注册护士数2.51人/千人口"),
    ("guilin", 36, 3.97, 0.005, "一(一)3 每千人口医疗机构床位数3.97张"),
    ("guilin", 38, 0.35, 0.005, "一(一)3 每万人口全科医生数0.35人"),
    ("guilin", 42, 95.0, 0.5, "一(一)6 数据库信息准确率达95%以上"),
    ("guilin", 47, 40.0, 0.5, "一(一)2 人均基本公共卫生服务经费40元/人"),
    ("guilin", 50, 100.0, 0.5, "一(一)5 100%的社区卫生服务中心"),
    ("guilin", 51, 83.0, 0.5, "一(一)5 83%的乡镇卫生院"),
    ("guilin", 52, 100.0, 0.5, "一(一)5 100%的社区卫生服务站"),
    ("guilin", 53, 65.0, 0.5, "一(一)5 65%村卫生室"),
    ("guilin", 54, 4.6, 0.05, "一(一)5 每万人口中医床位数4.6张"),
    ("guilin", 55, 2.8, 0.05, "一(一)5 每万人口中医执业（助理）医师数2.8人"),
    ("guilin", "beds", 19_630, 0, "一(一)3 医疗机构床位数19630张"),
    ("guilin", "facilities", 5_316, 0, "一(一)3 各类医疗卫生机构5316家"),
    ("guilin", "facilities[*:hospital,*:tcm_hospital]", 57, 0, "一(一)3 医院57所"),
    ("guilin", "facilities[*:thc]", 139, 0, "一(一)3 乡镇卫生院139家"),
    ("guilin", "facilities[*:chc]", 11, 0, "一(一)3 社区卫生服务中心11家"),
    ("guilin", "facilities[public:tcm_hospital]", 11, 0, "一(一)5 公立中医院11所"),
    ("guilin", "visits", 30_903_200, 0, "一(一)3 总诊疗人次数3090.32万人次"),
    ("guilin", "admissions", 671_800, 0, "一(一)3 住院量67.18万人次"),
]
ONE_SIDED = {("longhu", 4): ">", ("guilin", 12): ">=", ("guilin", 42): ">="}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "plans")


@pytest.fixture(scope="module")
def layouts(catalog):
    return load_layouts(REPO_ROOT / "plans" / "sources", catalog.elements)


@pytest.fixture(scope="module")
def truth(catalog):
    return sample_truth(catalog)


def stated_value(catalog, areas, observations: pd.DataFrame, plan_id: str, what, values=None):
    """An indicator (number or (number, stratum)) or an element term, at the root, in 2015."""
    plan = catalog.plan(plan_id)
    if isinstance(what, str):
        rolled = roll_up_sum(term_values(observations, Term.parse(what)), AreaTree(areas))
        key = (plan.jurisdiction, plan.baseline_year)
        return float(rolled[key]) if key in rolled.index else None
    number, stratum = what if isinstance(what, tuple) else (what, "")
    v = indicator_values(plan, areas, observations) if values is None else values
    sel = v[
        (v["number"] == number)
        & (v["area_code"] == plan.jurisdiction)
        & (v["year"] == plan.baseline_year)
        & (v["stratum"] == stratum)
    ]
    return float(sel["value"].iloc[0]) if len(sel) else None


def check_stated(catalog, areas_of, observations_of) -> list[str]:
    problems = []
    cache: dict[str, tuple] = {}
    for plan_id, what, stated, tol, where in STATED:
        if plan_id not in cache:
            obs = observations_of(plan_id)
            obs = obs[obs["year"] == catalog.plan(plan_id).baseline_year]
            areas = areas_of(plan_id)
            cache[plan_id] = (areas, obs, indicator_values(catalog.plan(plan_id), areas, obs))
        areas, obs, values = cache[plan_id]
        got = stated_value(catalog, areas, obs, plan_id, what, values)
        side = ONE_SIDED.get((plan_id, what))
        ok = got is not None and abs(got - stated) <= tol + 1e-9
        if ok and side == ">":
            ok = got > stated
        if ok and side == ">=":
            ok = got >= stated
        if not ok:
            problems.append(f"{plan_id} {what}: stated {stated} ({where}), sample {got}")
    return problems


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_truth_and_another_seed_does_not(catalog, truth):
    again = sample_truth(catalog, check=False)
    assert again.digest() == truth.digest()
    other = sample_truth(catalog, seed=truth.seed + 1, check=False)
    assert other.digest() != truth.digest()


# --------------------------------------------------------------------------- 2015 figures


def test_2015_reproduces_the_stated_figures(catalog, truth):
    problems = check_stated(catalog, lambda p: truth.areas[p], truth.observations_for)
    assert not problems, "\n".join(problems)


def test_every_stated_baseline_is_met_except_the_documented_conflict(catalog, truth):
    rows = baseline_check(catalog, truth)
    stated = [
        (p.id, i.number)
        for p in catalog.plans.values()
        for i in p.indicators
        if i.baseline and i.baseline.value is not None and i.formula
    ]
    assert sorted((r["plan"], r["number"]) for r in rows) == sorted(stated)
    off = {(r["plan"], r["number"]) for r in rows if not r["ok"]}
    assert off == set(BASELINE_EXCEPTIONS) == {("longhu", 3)}
    mmr = next(r for r in rows if (r["plan"], r["number"]) == ("longhu", 3))
    assert mmr["value"] == 0.0  # the text's 0, not the table's impossible 1.26


def test_the_text_counts_that_conflict_with_the_table_are_not_forced(catalog, truth):
    """The table wins: the text's 719 nurses and 787 beds cannot coexist with its rates."""
    longhu = truth.areas["longhu"]
    obs = truth.observations_for("longhu")
    assert stated_value(catalog, longhu, obs, "longhu", "nurses") == 652
    assert stated_value(catalog, longhu, obs, "longhu", "beds") == 1206
    guilin = truth.areas["guilin"]
    g = truth.observations_for("guilin")
    assert stated_value(catalog, guilin, g, "guilin", "tcm_beds") == 2275  # text 2,405
    assert stated_value(catalog, guilin, g, "guilin", "gps") == 173  # text 1,500
    roles = truth.facility_rows("guilin", 2015)["role"].value_counts()
    assert (roles["cdc"], roles["mch"], roles["supervision"]) == (13, 13, 14)


# --------------------------------------------------------------------------- parts and wholes


def test_areas_sum_to_their_parents_and_strata_to_their_totals(catalog, truth):
    kinds = {c: e.kind for c, e in catalog.elements.items()}
    for plan_id, areas in truth.areas.items():
        parent = {a.code: a.parent for a in areas}
        obs = truth.area_observations(plan_id)
        additive = obs[obs["element"].map(kinds).isin(["count", "amount"])]
        child = additive[additive["area_code"].map(parent).notna()]
        sums = child.groupby([child["area_code"].map(parent), "year", "element", "stratum"])[
            "value"
        ].sum()
        sums.index = sums.index.set_names("area_code", level=0)
        totals = additive.set_index(["area_code", "year", "element", "stratum"])["value"]
        both = pd.concat({"sum": sums, "total": totals}, axis=1, join="inner")
        assert len(both) > 100
        assert np.allclose(both["sum"], both["total"], atol=0.011), plan_id
        # strata → total: births by sex
        b = obs[obs["element"] == "births"].pivot_table(
            index=["area_code", "year"], columns="stratum", values="value"
        )
        assert (b["male"] + b["female"] == b[""]).all()
        # expenditure parts → the total
        e = obs[obs["element"].str.startswith("the_")].pivot_table(
            index=["area_code", "year"], columns="element", values="value"
        )
        parts = e["the_government"] + e["the_social"] + e["the_personal"]
        assert np.allclose(parts, e["the_total"], atol=0.011)


def test_facilities_are_consistent_and_sum_to_their_areas(truth):
    f = truth.facilities
    assert (f["gps"] <= f["doctors"]).all() and (f["tcm_doctors"] <= f["doctors"]).all()
    assert (f["doctors"] + f["nurses"] <= f["health_tech_staff"]).all()
    assert (f["health_tech_bachelor"] <= f["health_tech_staff"]).all()
    assert (f["tcm_beds"] <= f["beds"]).all()
    assert f[list(RESOURCE_FLAGS)].isin([0, 1]).all().all()
    assert not f.duplicated(["plan", "year", "key"]).any()
    assert not f.duplicated(["plan", "year", "uscc"]).any()
    for plan_id in truth.areas:
        rolled = truth.facility_rollup(plan_id)
        rows = truth.facility_rows(plan_id)
        for element in ("beds", "doctors", "visits"):
            per_area = rows.groupby(["area_code", "year"])[element].sum()
            r = rolled[rolled["element"] == element].groupby(["area_code", "year"])["value"].sum()
            assert (per_area == r).all()
    assert set(RESOURCE_NUMBERS) <= set(f.columns)


def test_the_planted_reported_rate_is_the_only_disagreement(catalog, truth):
    from transforms.quality import parts_vs_total, reported_vs_recomputed

    issues = []
    for plan_id, areas in truth.areas.items():
        obs = truth.observations_for(plan_id)
        issues += reported_vs_recomputed(catalog.elements, obs, areas)
        assert parts_vs_total(catalog.elements, obs) == []
    assert [(i["area_code"], i["year"], i["data"]["element"]) for i in issues] == [
        ("450324", 2017, "imr_reported")
    ]
    assert truth.planted and truth.planted[0]["area"] == "450324"


# --------------------------------------------------------------------------- statuses


def test_every_status_occurs_in_both_plans_at_mid_and_end_term(catalog, truth):
    cov = status_coverage(catalog, truth)
    for plan_id in ("longhu", "guilin"):
        for stage, required in REQUIRED.items():
            assert required <= cov[(plan_id, stage)], (plan_id, stage)


def test_each_indicator_gets_its_designed_status(catalog, truth):
    got = {(r["plan"], r["number"], r["stage"]): r["status"] for r in status_rows(catalog, truth)}
    want = {
        (plan, number, stage): statuses[k]
        for plan, table in EXPECTED.items()
        for number, statuses in table.items()
        for k, stage in enumerate(("mid", "end"))
    }
    assert got == want


def test_binding_indicators_are_mixed_and_per_unit_indicators_name_failing_units(catalog, truth):
    rows = status_rows(catalog, truth)
    longhu = catalog.plan("longhu")
    binding = {i.number for i in longhu.indicators if i.attribute == "约束性"}
    end = {r["status"] for r in rows if r["plan"] == "longhu" and r["stage"] == "end"
           and r["number"] in binding}  # fmt: skip
    assert {"已完成", "基本完成", "未完成", "待人工评定"} <= end
    failing = {(r["plan"], r["number"], r["stage"]): r["failing_units"] for r in rows}
    assert failing[("longhu", 4, "mid")] == ["鸥汀街道"]
    assert failing[("longhu", 4, "end")] == ["新溪镇"]
    assert failing[("guilin", 12, "mid")] == ["龙胜各族自治县"]
    assert failing[("guilin", 12, "end")] == ["资源县"]


@pytest.mark.parametrize("seed", [1, 99])
def test_the_design_holds_for_other_seeds(catalog, seed):
    t = sample_truth(catalog, seed=seed)  # raises when a status is missing
    assert {(r["plan"], r["number"]) for r in baseline_check(catalog, t) if not r["ok"]} == set(
        BASELINE_EXCEPTIONS
    )
    statuses = {(r["plan"], r["number"], r["stage"]): r["status"] for r in status_rows(catalog, t)}
    assert all(
        statuses[(plan, n, stage)] == s[k]
        for plan, table in EXPECTED.items()
        for n, s in table.items()
        for k, stage in enumerate(("mid", "end"))
    )


def test_scale_and_synthetic_towns(catalog):
    big = sample_truth(catalog, scale=2, years=[2015, 2018, 2020])
    base = sample_truth(catalog, years=[2015, 2018, 2020], check=False)
    n_big = big.facilities.groupby("plan").size()
    n_base = base.facilities.groupby("plan").size()
    assert (n_big > 1.8 * n_base).all()
    towns = sample_truth(catalog, towns_per_county=2, years=[2015], check=False)
    guilin = towns.areas["guilin"]
    assert sum(a.level == "town" for a in guilin) == 34
    obs = towns.area_observations("guilin")
    assert obs["area_code"].isin({a.code for a in guilin}).all()
    pop = obs[(obs["element"] == "pop_resident") & (obs["year"] == 2015)].set_index("area_code")
    assert (
        pop.loc["450324101", "value"] + pop.loc["450324102", "value"] == pop.loc["450324", "value"]
    )


# --------------------------------------------------------------------------- the bundled files


@pytest.fixture(scope="module")
def parsed(catalog, layouts):
    from transforms.parsing import CatalogInfo, parse_file

    info = CatalogInfo.from_catalog(catalog)
    out: dict[str, list] = {}
    for path in sorted(INBOX.rglob("*")):
        if path.suffix in (".csv", ".xlsx"):
            plan_id = path.relative_to(INBOX).parts[0]
            out.setdefault(plan_id, []).append(
                (path, parse_file(path.name, path.read_bytes(), layouts, info, current_year=2021))
            )
    return out


@pytest.mark.integration
def test_bundled_files_parse_with_zero_rejects_and_equal_the_truth(parsed, truth):
    assert set(parsed) == {"longhu", "guilin"}
    for plan_id, files in parsed.items():
        assert len(files) >= 40
        for path, pf in files:
            assert pf.rejects == [], (path, pf.rejects[:3])
            assert pf.source == path.stem.rsplit("_", 1)[0], path
        got = pd.concat([pf.good for _, pf in files]).drop(columns="source_rows")
        keys = ["area_code", "year", "element", "stratum"]
        assert not got.duplicated(keys).any()
        got = got.set_index(keys)["value"].sort_index()
        want = truth.observations_for(plan_id).set_index(keys)["value"].sort_index()
        assert got.index.equals(want.index), plan_id
        assert np.allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-6), plan_id


@pytest.mark.integration
def test_bundled_files_reproduce_the_stated_figures(catalog, parsed, truth):
    def observations_of(plan_id):
        return pd.concat([pf.good for _, pf in parsed[plan_id]]).drop(columns="source_rows")

    problems = check_stated(catalog, lambda p: truth.areas[p], observations_of)
    assert not problems, "\n".join(problems)


@pytest.mark.integration
def test_bundled_files_have_the_received_encodings_and_layouts(parsed):
    by_name = {(p.parent.parent.name, p.name): pf for files in parsed.values() for p, pf in files}
    assert by_name[("longhu", "population_2015.csv")].encoding == "utf-8"
    assert by_name[("guilin", "mch_2017.csv")].encoding in ("gbk", "gb18030")
    assert by_name[("guilin", "public_health_2016.csv")].encoding == "utf-8-sig"
    assert by_name[("longhu", "resources_2017.xlsx")].layout == "resources_v1"
    assert by_name[("longhu", "resources_2018.xlsx")].layout == "resources_v2"
    assert by_name[("guilin", "expenditure_2020.xlsx")].format == "xlsx"
    sizes = sum(p.stat().st_size for files in parsed.values() for p, _ in files)
    assert sizes < 5 * 2**20


@pytest.mark.integration
def test_the_bundled_sample_is_what_the_generator_writes(catalog, layouts, truth, tmp_path):
    written = write_sample(truth, catalog, layouts, tmp_path)
    assert len(written) == len([p for p in INBOX.rglob("*") if p.is_file()])
    for w in written:
        bundled = INBOX / w.path.relative_to(tmp_path)
        assert bundled.read_bytes() == w.path.read_bytes(), (
            f"{bundled} is stale: run `uv run healthplan sample generate --out samples/inbox`"
        )


@pytest.mark.integration
def test_generate_command_writes_and_reports(tmp_path, capsys, monkeypatch):
    from samples.generator import generate_command

    monkeypatch.setenv("COLUMNS", "200")
    assert generate_command(tmp_path / "inbox", 1.0, 20161) == 0
    text = capsys.readouterr().out
    assert text.index("写入") < text.index("wrote")
    assert "共 90 个文件" in text and "450324 2017 imr_reported" in text
    assert math.isclose(
        sum(p.stat().st_size for p in Path(tmp_path / "inbox").rglob("*") if p.is_file()),
        sum(p.stat().st_size for p in INBOX.rglob("*") if p.is_file()),
    )
