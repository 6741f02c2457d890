"""Reviews, guards and acknowledgements through the `healthplan` command, on the bundled Longhu
sample in a fresh warehouse: what a reviewer types, what is stored, what evaluate and report do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration
INBOX = REPO_ROOT / "samples" / "inbox" / "longhu"


@pytest.fixture(scope="module")
def longhu(tmp_path_factory):
    """A warehouse holding the Longhu sample (ingested and computed), and a reports folder."""
    from tests.conftest import _clear_caches

    tmp = tmp_path_factory.mktemp("reviews_cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHPLAN_DATA_DIR", str(tmp / "data"))
        mp.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp / "reports"))
        mp.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
        mp.delenv("HEALTHPLAN_PLANS_DIR", raising=False)
        _clear_caches()
        from flows.compute import compute_plan
        from flows.ingest import ingest_paths

        before = datetime.now(UTC)
        ingest_paths([INBOX])
        compute_plan("longhu")
        yield {"tmp": tmp, "before_data": before}
        _clear_caches()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """`healthplan ARGS` in this process (as main() maps errors to exit codes): code, out, err."""
    from flows.cli import main

    old = sys.argv
    sys.argv = ["healthplan", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def evaluation(capsys, *args: str) -> dict[int, dict]:
    code, out, err = cli(capsys, "evaluate", "--plan", "longhu", *args, "--format", "json")
    assert code == 0, err
    return {r["number"]: r for r in json.loads(out)}


def test_a_verdict_on_a_numeric_indicator_is_refused_unless_it_is_an_override(longhu, capsys):
    base = ["review", "--plan", "longhu", "--indicator", "1", "--stage", "mid", "--year", "2018"]
    who = ["--by", "王芳", "--reason", "抽样调查结果"]
    code, out, err = cli(capsys, *base, "--verdict", "met", *who)
    assert code == 2
    assert "是数值目标，由数据评定，不接受人工评定" in flat(err) and "--override" in err
    assert "Traceback" not in err
    code, out, err = cli(capsys, "reviews", "--plan", "longhu", "--format", "json")
    assert code == 0 and json.loads(out) == []  # nothing stored

    computed = evaluation(capsys, "--stage", "mid")[1]
    before_override = datetime.now(UTC).isoformat()
    code, out, err = cli(capsys, *base, "--verdict", "met", "--override", *who)
    assert code == 0, err
    assert "已记录人工调整" in out
    rows = evaluation(capsys, "--stage", "mid")
    row = rows[1]
    assert row["status"] == "已实现" and row["met"] is True
    assert row["override"]["computed_status"] == computed["status"] != "已实现"
    assert (row["override"]["by"], row["override"]["reason"]) == ("王芳", "抽样调查结果")
    assert row["override"]["verdict"] == "met" and row["review"] is None
    assert all("review" in r and "override" in r for r in rows.values())
    # as of a moment before it, the override did not exist
    then = evaluation(capsys, "--stage", "mid", "--as-of", before_override)[1]
    assert then["override"] is None and then["status"] == computed["status"]
    # the end of term is not touched by a mid-term override
    assert evaluation(capsys, "--stage", "end")[1]["override"] is None
    # an override on a qualitative target is refused
    code, _, err = cli(
        capsys, "review", "--plan", "longhu", "--indicator", "5", "--verdict", "met",
        "--override", *who,
    )  # fmt: skip
    assert code == 2 and "是定性目标" in err

    # withdrawn: the computed status is back, the history kept
    review_id = row["override"]["id"]
    code, out, err = cli(capsys, "review", "--withdraw", str(review_id), "--by", "李强",
                         "--reason", "调查口径不符")  # fmt: skip
    assert code == 0, err
    assert f"已撤回评定 {review_id}" in out
    assert evaluation(capsys, "--stage", "mid")[1]["status"] == computed["status"]
    # a reproduction as of a moment between the override and its withdrawal still shows it
    between = datetime.fromisoformat(row["override"]["at"]) + timedelta(microseconds=1)
    assert evaluation(capsys, "--stage", "mid", "--as-of", between.isoformat())[1]["override"]
    code, out, _ = cli(capsys, "reviews", "--plan", "longhu", "--format", "json")
    (listed,) = json.loads(out)
    assert (listed["id"], listed["status"], listed["applies"]) == (review_id, "已撤回", False)
    assert (listed["withdrawn_by"], listed["withdraw_reason"]) == ("李强", "调查口径不符")
    code, _, err = cli(capsys, "review", "--withdraw", str(review_id))
    assert code == 2 and "was already withdrawn" in err
    code, _, err = cli(capsys, "review", "--withdraw", "9999")
    assert code == 2 and "没有编号为 9999 的评定" in err


def test_a_qualitative_verdict_is_for_its_stage_and_year_and_defaults_to_the_current_one(
    longhu, capsys
):
    code, out, err = cli(
        capsys, "review", "--plan", "longhu", "--indicator", "5", "--stage", "mid",
        "--verdict", "met", "--by", "张三", "--reason", "督导检查达标",
    )  # fmt: skip
    assert code == 0, err
    assert "中期评估（2018年数据）" in out
    mid = evaluation(capsys, "--stage", "mid")[5]
    assert mid["status"] == "已实现" and mid["review"]["by"] == "张三"
    assert mid["review"]["verdict"] == "met" and mid["override"] is None
    end = evaluation(capsys, "--stage", "end")[5]
    assert end["status"] == "待人工评定" and end["review"] is None  # not carried to the end
    # no --stage: the plan's current evaluation (2020 has passed: end of term, 2020 data)
    code, out, err = cli(
        capsys, "review", "--plan", "longhu", "--indicator", "5", "--verdict", "not-met",
        "--by", "张三", "--reason", "终期复核未达标",
    )  # fmt: skip
    assert code == 0, err and "终期评估（2020年数据）" in out
    assert evaluation(capsys, "--stage", "end")[5]["status"] == "未完成"
    code, out, _ = cli(capsys, "reviews", "--plan", "longhu")
    assert "有效" in out and "中期评估·2018" in out and "终期评估·2020" in out
    # a year outside the period is refused for a review too
    code, _, err = cli(
        capsys, "review", "--plan", "longhu", "--indicator", "5", "--stage", "end",
        "--year", "2018", "--verdict", "met", "--by", "张三", "--reason", "x",
    )  # fmt: skip
    assert code == 2 and "终期评估的数据年份不能早于目标年2020年" in err


def test_a_verdict_that_no_longer_fits_is_ignored_with_a_warning(longhu, capsys):
    """A numeric verdict stored before this check existed (as the old command accepted it):
    evaluate warns and goes on, quality lists it; nothing crashes."""
    from flows.common import warehouse
    from warehouse.results import add_review

    stale = add_review(warehouse(), "longhu", 2, True, "旧记录", "旧版接受的评定",
                       stage="mid", data_year=2018)  # fmt: skip
    code, out, err = cli(capsys, "evaluate", "--plan", "longhu", "--stage", "mid")
    assert code == 0, err
    assert f"评定 {stale['id']} 未计入" in err and "现为数值目标" in err
    code, out, err = cli(capsys, "quality", "--plan", "longhu", "--format", "json")
    assert code == 0, err
    found = [i for i in json.loads(out) if i["kind"] == "review_not_applied"]
    assert [i["data"]["review_id"] for i in found] == [stale["id"]]
    code, out, _ = cli(capsys, "reviews", "--plan", "longhu", "--format", "json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert listed[stale["id"]]["status"] == "不再适用" and not listed[stale["id"]]["applies"]


@pytest.mark.parametrize(
    ("command", "args", "allowed"),
    [
        ("evaluate", ["--stage", "mid", "--year", "2030"], "中期评估可选：2016—2020年"),
        ("evaluate", ["--stage", "end", "--year", "2018"], "终期评估可选：2020年"),
        ("report", ["--stage", "mid", "--year", "2030"], "中期评估可选：2016—2020年"),
        ("report", ["--stage", "end", "--year", "2018"], "终期评估可选：2020年"),
    ],
)
def test_years_outside_the_period_are_refused_naming_the_allowed_ones(
    longhu, capsys, command, args, allowed
):
    code, out, err = cli(capsys, command, "--plan", "longhu", *args)
    assert code == 2, (out, err)
    assert allowed in flat(err) and "Traceback" not in err


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_report_from_too_little_data_is_refused_or_marked_incomplete(longhu, capsys):
    moment = longhu["before_data"].isoformat()
    code, out, err = cli(capsys, "report", "--plan", "longhu", "--stage", "mid", "--as-of", moment)
    assert code == 3, (out, err)
    assert "2018年数据不完整：" in flat(err) and "项数值指标中仅0项有数据" in flat(err)
    assert "--allow-incomplete" in err
    assert not list((longhu["tmp"] / "reports").glob("longhu_mid_2018_asof*.pdf"))

    code, out, err = cli(capsys, "report", "--plan", "longhu", "--stage", "mid", "--as-of",
                         moment, "--allow-incomplete")  # fmt: skip
    assert code == 0, err
    (pdf,) = (longhu["tmp"] / "reports").glob("longhu_mid_2018_asof*.pdf")
    pages = pdf_text(pdf).split("\f")[:-1]
    assert "【数据不完整】2018年仅有0项数值指标有数据" in flat(pages[0])  # the cover
    assert all("数据不完整" in flat(page) for page in pages)  # every page's header
    assert len(pages) > 3


def test_a_complete_report_has_no_incomplete_notice(longhu, capsys):
    code, out, err = cli(capsys, "report", "--plan", "longhu", "--stage", "mid")
    assert code == 0, err
    assert "数据不完整" not in pdf_text(longhu["tmp"] / "reports" / "longhu_mid_2018.pdf")


def test_an_acknowledged_quality_issue_leaves_the_open_list_until_its_numbers_change(
    longhu, capsys
):
    from flows.common import warehouse
    from flows.evaluate import assess
    from flows.report import build_report, load_inputs
    from warehouse.results import load_quality_issues, replace_quality_issues

    code, out, err = cli(capsys, "quality", "--plan", "longhu", "--format", "json")
    assert code == 0, err
    issues = json.loads(out)
    chosen = next(i for i in issues if i["kind"] != "review_not_applied" and i["number"])
    code, out, err = cli(capsys, "quality", "--acknowledge", str(chosen["id"]), "--by", "王芳",
                         "--reason", "已与统计科核实")  # fmt: skip
    assert code == 0, err and f"已确认质量问题 {chosen['id']}" in out
    code, out, _ = cli(capsys, "quality", "--plan", "longhu")
    assert "已确认（王芳：已与统计科核实）" in flat(out)

    a = assess("longhu", "mid")
    ctx = build_report(a, load_inputs(a, warehouse()))[0]
    assert [x["id"] for x in ctx["acknowledged_issues"]] == [chosen["id"]]
    assert ctx["acknowledged_issues"][0]["by"] == "王芳"
    assert chosen["detail"] not in [i["detail"] for i in ctx["quality"]["issues"]]
    assert isinstance(ctx["review_history"], list)

    # the same issue found with other numbers behind it: open again
    engine = warehouse()
    current = [dict(i) for i in load_quality_issues(engine, "longhu")]
    keep = {"kind", "severity", "number", "area_code", "year", "file_name", "row", "detail", "data"}
    rows = [{k: v for k, v in i.items() if k in keep} for i in current]
    for r in rows:
        if r["detail"] == chosen["detail"] and r["kind"] == chosen["kind"]:
            r["data"] = {**(r["data"] or {}), "changed": True}
    replace_quality_issues(engine, "longhu", rows)
    again = next(i for i in load_quality_issues(engine, "longhu") if i["id"] == chosen["id"])
    assert again["acknowledged"] is False and again["reopened"] is True
    code, _, err = cli(capsys, "quality", "--acknowledge", "99999", "--by", "x", "--reason", "y")
    assert code == 2 and "没有编号为 99999 的质量问题" in err


@pytest.fixture
def demo_on(db_url, tmp_path, monkeypatch):
    """The demo plan alone, its warehouse on each database (SQLite and PostgreSQL)."""
    from tests.conftest import _clear_caches
    from tests.flows.test_report import write_plans
    from tests.transforms.test_report_context import demo_plan

    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(write_plans(tmp_path, demo_plan())))
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("HEALTHPLAN_DATABASE_URL", db_url)
    (tmp_path / "data").mkdir()
    _clear_caches()
    yield tmp_path
    _clear_caches()


def test_the_review_commands_on_each_database(demo_on, capsys):
    who = ["--by", "张三", "--reason", "复核"]
    code, _, err = cli(capsys, "review", "--plan", "demo", "--indicator", "1", "--stage", "end",
                       "--verdict", "not-met", "--override", *who)  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "review", "--plan", "demo", "--indicator", "5", "--stage", "end",
                       "--verdict", "met", *who)  # fmt: skip
    assert code == 0, err
    code, out, err = cli(capsys, "evaluate", "--plan", "demo", "--stage", "end", "--format", "json")
    assert code == 0, err
    rows = {r["number"]: r for r in json.loads(out)}
    assert rows[1]["status"] == "未完成" and rows[1]["override"]["computed_status"] == "数据缺失"
    assert rows[5]["status"] == "已完成" and rows[5]["review"]["verdict"] == "met"
    code, out, _ = cli(capsys, "reviews", "--plan", "demo", "--format", "json")
    listed = json.loads(out)
    assert [(r["number"], r["override"], r["status"], r["applies"]) for r in listed] == [
        (1, True, "有效", True),
        (5, False, "有效", True),
    ]
    code, _, err = cli(capsys, "review", "--withdraw", str(listed[1]["id"]), *who)
    assert code == 0, err
    code, out, _ = cli(capsys, "evaluate", "--plan", "demo", "--stage", "end", "--format", "json")
    assert {r["number"]: r for r in json.loads(out)}[5]["status"] == "待人工评定"
    code, out, _ = cli(capsys, "quality", "--plan", "demo", "--format", "json")
    issue = json.loads(out)[0]
    code, _, err = cli(capsys, "quality", "--acknowledge", str(issue["id"]), *who)
    assert code == 0, err
    code, out, _ = cli(capsys, "quality", "--plan", "demo", "--format", "json")
    assert next(i for i in json.loads(out) if i["id"] == issue["id"])["acknowledged"] is True


@pytest.fixture
def goals_on(db_url, tmp_path, monkeypatch):
    """The demo plan with two text goals, its warehouse on each database."""
    from tests.conftest import _clear_caches
    from tests.flows.test_report import write_plans
    from tests.transforms.test_reviews import _with_text_goals

    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(write_plans(tmp_path, _with_text_goals())))
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("HEALTHPLAN_DATABASE_URL", db_url)
    (tmp_path / "data").mkdir()
    _clear_caches()
    yield tmp_path
    _clear_caches()


def test_a_text_goal_is_reviewed_listed_reported_and_withdrawn(goals_on, capsys):
    from io import BytesIO

    from openpyxl import load_workbook

    from flows.common import catalog
    from flows.evaluate import assess
    from flows.report import render_xlsx
    from transforms.report_context import build_context

    who = ["--by", "张三", "--reason", "已印发实施方案"]
    base = ["review", "--plan", "demo", "--stage", "end", "--verdict", "met", *who]
    code, out, err = cli(capsys, *base, "--goal", "T2")
    assert code == 0, err
    assert "正文目标T2「标准化建设达标率」" in flat(out)
    code, _, err = cli(capsys, *base, "--goal", "T7")
    assert code == 2 and "没有正文目标T7（现有：T1、T2）" in flat(err)
    code, _, err = cli(capsys, *base, "--goal", "T1", "--override")
    assert code == 2 and "无需--override" in flat(err)
    code, _, err = cli(capsys, *base, "--goal", "T1", "--indicator", "5")
    assert code == 2 and "只能给一个" in err
    code, out, _ = cli(capsys, "reviews", "--plan", "demo", "--format", "json")
    (listed,) = json.loads(out)
    assert (listed["goal"], listed["number"], listed["name"], listed["status"]) == (
        "T2", None, "标准化建设达标率", "有效",
    )  # fmt: skip
    code, out, _ = cli(capsys, "reviews", "--plan", "demo")
    assert "T2 标准化建设达标率" in out

    def text_goals():
        a = assess("demo", "end")
        plan = catalog().plan("demo")
        ctx = build_context(
            plan, a.rows, a.values, stage="end", data_year=a.data_year, as_of=a.as_of,
            areas=catalog().areas("demo"), goal_reviews=a.goal_reviews,
            review_history=a.review_history, with_charts=False,
        )  # fmt: skip
        sheet = load_workbook(BytesIO(render_xlsx(ctx, a.rows, plan)))["规划正文目标"]
        cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
        return [(g["goal"], g["status"]) for g in ctx["text_goals"]], cells

    goals, cells = text_goals()
    assert goals == [("T1", "待人工评定"), ("T2", "已完成")]
    from flows.common import warehouse
    from flows.report import _inputs_record, load_inputs

    a = assess("demo", "end")
    record = _inputs_record(a, load_inputs(a, warehouse()))
    assert record["reviews"]["T2"]["id"] == listed["id"]  # what the report was made from
    assert [(r[0], r[5], r[6]) for r in cells] == [
        ("T1", "待人工评定", "—"),
        ("T2", "已完成", "达到（张三）"),
    ]
    code, out, err = cli(capsys, "review", "--withdraw", str(listed["id"]), *who)
    assert code == 0, err
    assert "已撤回评定" in flat(out + err) and "正文目标T2" in flat(out + err)
    goals, _ = text_goals()
    assert goals == [("T1", "待人工评定"), ("T2", "待人工评定")]
    code, out, _ = cli(capsys, "reviews", "--plan", "demo", "--format", "json")
    assert json.loads(out)[0]["status"] == "已撤回"
