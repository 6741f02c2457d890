"""Issue 19's "done when", on the bundled sample: the four reports leadership signs.

One temporary copy of plans/ (the commentary is written there, never into the repository's plans),
one warehouse: `healthplan run`, then a commentary sentence under “## 指标14” and `healthplan
report --plan longhu --stage mid`, then `healthplan run` again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthplan.settings import REPO_ROOT
from tests.writers.headings import BODY, check_heading_order, docx_headings, html_headings

pytestmark = pytest.mark.integration
INBOX = REPO_ROOT / "samples" / "inbox"
SENTENCE = "护理人员招聘受编制限制，今年已启动护理专业定向培养计划。"
STEMS = ["longhu_mid_2018", "longhu_end_2020", "guilin_mid_2018", "guilin_end_2020"]
runner = CliRunner()


def pdf_pages(path: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")


def docx_text(path: Path) -> str:
    from docx import Document

    doc = Document(BytesIO(path.read_bytes()))
    return "\n".join(p.text for p in doc.paragraphs)


def snapshot(reports: Path, stem: str) -> dict:
    return {
        "pdf": pdf_pages(reports / f"{stem}.pdf"),
        "html": (reports / f"{stem}.html").read_text(encoding="utf-8"),
        "docx": docx_text(reports / f"{stem}.docx"),
    }


@pytest.fixture(scope="module")
def samples(prefect_harness, tmp_path_factory):
    import os

    from tests.conftest import _clear_caches

    tmp = tmp_path_factory.mktemp("samples19")
    plans = tmp / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans)
    keys = ("HEALTHPLAN_PLANS_DIR", "HEALTHPLAN_DATA_DIR", "HEALTHPLAN_REPORTS_DIR",
            "HEALTHPLAN_DATABASE_URL")  # fmt: skip
    old = {k: os.environ.get(k) for k in keys}
    os.environ["HEALTHPLAN_PLANS_DIR"] = str(plans)
    os.environ["HEALTHPLAN_DATA_DIR"] = str(tmp / "data")
    os.environ["HEALTHPLAN_REPORTS_DIR"] = str(tmp / "reports")
    os.environ.pop("HEALTHPLAN_DATABASE_URL", None)
    _clear_caches()
    from flows.cli import app
    from flows.pipeline import run_command

    try:
        assert run_command(None, None, None, INBOX) == 0
        reports = tmp / "reports"
        first = {stem: snapshot(reports, stem) for stem in STEMS}

        init = runner.invoke(app, ["commentary", "init", "--plan", "longhu", "--stage", "mid"])
        assert init.exit_code == 0, init.output
        path = plans / "longhu" / "commentary" / "mid-2018.md"
        text = path.read_text(encoding="utf-8")
        head = re.search(r"^## 指标14 .*\n<!-- 状态：.* -->\n<!-- .* -->\n", text, flags=re.M)
        assert head, text
        path.write_text(text[: head.end()] + SENTENCE + "\n" + text[head.end() :], "utf-8")
        again = runner.invoke(app, ["commentary", "init", "--plan", "longhu", "--stage", "mid"])

        done = runner.invoke(app, ["report", "--plan", "longhu", "--stage", "mid"])
        assert done.exit_code == 0, done.output
        after_report = snapshot(reports, "longhu_mid_2018")
        archived_after_report = sorted(p.name for p in (reports / "archive").iterdir())

        assert run_command(None, None, None, INBOX) == 0
        after_run = snapshot(reports, "longhu_mid_2018")
        yield {
            "reports": reports, "first": first, "after_report": after_report,
            "after_run": after_run, "again": again, "archived": archived_after_report,
            "commentary": path,
        }  # fmt: skip
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_caches()


def body_pages(pages: list[str]) -> list[str]:
    """The pages after the contents, up to the first annex (its heading, not its contents line)."""
    start = 2  # cover, contents
    for k, page in enumerate(pages[start:], start=start):
        if re.search(r"^\s*附件1　?\s*\S+\s*$", page, flags=re.M):
            return pages[start:k]
    raise AssertionError("no annex found")


@pytest.mark.parametrize("stem", STEMS)
def test_the_body_has_no_english_no_zone_name_and_the_parts_in_order(samples, stem):
    pages = samples["first"][stem]["pdf"]
    whole = "\f".join(pages)
    assert "Asia/Shanghai" not in whole and "北京时间" in whole
    body = "\f".join(body_pages(pages))
    from flows.common import catalog

    plan = catalog().plan(stem.split("_")[0])
    # the plan's own names may quote an abbreviation (e.g. “占GDP的比重”): printed as the plan has it
    quoted = {
        w for i in plan.indicators for w in re.findall(r"[A-Za-z]+", i.name_zh + i.target.text)
    }
    latin = [w for w in re.findall(r"[A-Za-z]+", body) if w not in quoted]
    assert latin == [], latin[:20]
    for word in ("数据仓库", "修正Z值", "校验值", "inbox"):
        assert word not in body, word
    positions = [body.find(title) for title in BODY]
    assert -1 not in positions and positions == sorted(positions), positions
    after_contents = "\f".join(pages[2:])
    annexes = [
        m.group(1) for m in re.finditer(r"^\s*附件(\d+)\s+\S+\s*$", after_contents, flags=re.M)
    ]
    assert annexes == [str(k) for k in range(1, len(annexes) + 1)] and len(annexes) >= 4


@pytest.mark.parametrize("stem", STEMS)
def test_html_and_docx_headings_follow_the_official_order(samples, stem):
    reports = samples["reports"]
    check_heading_order(html_headings((reports / f"{stem}.html").read_text(encoding="utf-8")))
    check_heading_order(docx_headings(reports / f"{stem}.docx"))


def test_guilin_county_tables_are_in_an_annex_not_the_body(samples):
    pages = samples["first"]["guilin_mid_2018"]["pdf"]
    body = body_pages(pages)
    assert len(body) < len(pages) / 2, (len(body), len(pages))
    assert "各地区主要指标" not in "".join(body)


def _in_its_place(text: str) -> bool:
    problems = text.rindex("四、存在问题及原因分析")  # the heading, not the contents' line
    item = text.index("指标14“注册护士”", problems)
    sentence = text.find(SENTENCE[:12], item)
    return item < sentence < text.index("五、下一步工作建议", problems)


@pytest.mark.parametrize("when", ["after_report", "after_run"])
def test_the_commentary_sentence_is_beside_indicator_14_in_pdf_html_and_docx(samples, when):
    files = samples[when]
    pdf = re.sub(r"\s+", "", "".join(files["pdf"]))
    assert _in_its_place(pdf)
    assert _in_its_place(files["html"])
    assert _in_its_place(files["docx"])
    assert SENTENCE not in "".join(samples["first"]["longhu_mid_2018"]["pdf"])


def test_init_refuses_to_overwrite_and_the_previous_report_is_archived(samples):
    assert samples["again"].exit_code == 1
    assert "未覆盖" in samples["again"].output
    assert SENTENCE in samples["commentary"].read_text(encoding="utf-8")
    archived = samples["archived"]
    for ext in ("pdf", "html", "xlsx", "docx"):
        assert any(re.fullmatch(rf"longhu_mid_2018_asof\d{{8}}T\d{{6}}Z\.{ext}", n)
                   for n in archived), archived  # fmt: skip


@pytest.mark.parametrize("stem", STEMS)
def test_docx_opens_in_python_docx_and_libreoffice_with_one_row_per_indicator(
    samples, stem, tmp_path
):
    from docx import Document

    from flows.common import catalog

    path = samples["reports"] / f"{stem}.docx"
    doc = Document(str(path))
    plan = catalog().plan(stem.split("_")[0])
    table = next(t for t in doc.tables if t.rows[0].cells[0].text == "序号" and
                 t.rows[0].cells[1].text == "指标名称（单位）")  # fmt: skip
    assert [r.cells[0].text for r in table.rows[1:]] == [str(i.number) for i in plan.indicators]
    out = subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    pdf = tmp_path / f"{stem}.pdf"
    assert out.returncode == 0 and pdf.is_file(), out.stderr
    text = "".join(pdf_pages(pdf))
    assert plan.title_zh in text.replace(" ", "") or plan.title_zh[:8] in text
    assert "一、基本情况" in text and "四、存在问题及原因分析" in text
