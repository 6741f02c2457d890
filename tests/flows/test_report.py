"""Rendering the report for real: PDF text and fonts, safety, atomic files, records and mail.

A small synthetic plan (tests/transforms/test_report_context.py) is written to a temporary plans
folder with a temporary SQLite warehouse, so these tests do not depend on the real plans.
"""

from __future__ import annotations

import email
import hashlib
import logging
import os
import re
import socket
import subprocess
import zipfile
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import _clear_caches  # Prefect's test settings are set there, before import
from tests.transforms.test_report_context import AREAS, ISSUES, demo_context, demo_plan, demo_values
from transforms.assessment import assess_plan

EVIL = '<img src="file:///etc/passwd">'
REVIEWED_AT = datetime(2019, 2, 20, 9, 0, tzinfo=UTC)
AS_OF = datetime(2019, 3, 1, 2, 0, tzinfo=UTC)


def _tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def pdftext(path: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    return _tool("pdftotext", *pages, "-layout", str(path), "-")


def write_plans(folder: Path, plan) -> Path:
    plans = folder / "plans"
    (plans / plan.id).mkdir(parents=True)
    (plans / "elements.yaml").write_text("elements: []\n", encoding="utf-8")
    (plans / plan.id / "plan.yaml").write_text(
        yaml.safe_dump(plan.model_dump(mode="json"), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    (plans / plan.id / "areas.yaml").write_text(
        yaml.safe_dump(
            {"jurisdiction": plan.jurisdiction, "areas": [a.model_dump() for a in AREAS]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return plans


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A plans folder holding the demo plan, a migrated SQLite warehouse, a reports folder."""
    base = tmp_path_factory.mktemp("report_env")
    plans = write_plans(base, demo_plan())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHPLAN_PLANS_DIR", str(plans))
        mp.setenv("HEALTHPLAN_DATA_DIR", str(base / "data"))
        mp.setenv("HEALTHPLAN_REPORTS_DIR", str(base / "reports"))
        mp.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
        mp.delenv("HEALTHPLAN_ISSUING_BODY", raising=False)
        (base / "data").mkdir()
        _clear_caches()
        from flows.common import warehouse
        from warehouse.engine import begin_write
        from warehouse.observations import finish_source_file, register_source_file
        from warehouse.results import add_review, replace_quality_issues

        engine = warehouse()
        with begin_write(engine) as conn:
            file_id, _ = register_source_file(
                conn,
                checksum=hashlib.sha256(b"resources").hexdigest(),
                name="卫生资源统计_2018.xlsx",
                source="resources",
                layout="resources_v2",
                encoding=None,
                rows_read=120,
                received_at=datetime(2019, 2, 1, 8, 30, tzinfo=UTC),
            )
            finish_source_file(conn, file_id, 120, 0, "loaded")
        replace_quality_issues(engine, "demo", [dict(i) for i in ISSUES])
        add_review(
            engine,
            "demo",
            5,
            True,
            "张三",
            "抽查达标",
            stage="mid",
            data_year=2018,
            reviewed_at=REVIEWED_AT,
        )
        yield {"base": base, "engine": engine, "file_id": file_id}
        _clear_caches()


def demo_assessment(file_id: int = 1, plan=None):
    from flows.evaluate import Assessment

    plan = plan or demo_plan()
    values = demo_values()
    rows = assess_plan(plan, AREAS, values, "mid", 2018, reviews={5: True})
    reviews = {
        5: {"verdict": True, "reviewer": "张三", "reviewed_at": REVIEWED_AT, "reason": "抽查达标"}
    }
    observations = pd.DataFrame({"source_file_id": [file_id, file_id]})
    return Assessment("demo", "mid", 2018, AS_OF, observations, values, rows, reviews)


@pytest.fixture(scope="module")
def rendered(env):
    from flows.report import render_report

    capture = []

    class Handler(logging.Handler):
        def emit(self, record):
            capture.append(record.getMessage())

    handler = Handler(logging.WARNING)
    logging.getLogger("weasyprint").addHandler(handler)
    try:
        files = render_report(demo_assessment(env["file_id"]), engine=env["engine"])
    finally:
        logging.getLogger("weasyprint").removeHandler(handler)
    return files, capture


def table_row(ctx, number):
    return next(r for c in ctx["table"]["categories"] for r in c["rows"] if r["number"] == number)


# ------------------------------------------------------------------------------ the real PDF


@pytest.mark.integration
def test_files_land_in_the_reports_folder_under_plan_stage_year(env, rendered):
    files, _ = rendered
    reports = env["base"] / "reports"
    assert files.pdf == reports / "demo_mid_2018.pdf"
    assert files.html == reports / "demo_mid_2018.html"
    assert files.xlsx == reports / "demo_mid_2018.xlsx"
    assert files.docx == reports / "demo_mid_2018.docx"
    assert all(p.stat().st_size > 0 for p in files.paths())
    assert not list(reports.glob(".*.part"))
    assert files.pdf.read_bytes().startswith(b"%PDF-")


@pytest.mark.integration
def test_pdf_text_has_the_title_and_the_numbers_as_formatted(rendered):
    files, _ = rendered
    text = pdftext(files.pdf)
    assert "示例区卫生健康“十三五”规划" in text
    assert "中期评估报告" in text
    ctx, _ = demo_context()
    for number in (1, 2, 3, 4):
        r = table_row(ctx, number)
        for key in ("value", "p", "rho", "projection"):
            assert r[key] in text, (number, key, r[key])
    assert "1.95" in text and "-0.083" in text and "0.750" in text  # worked example and ρ of 2
    assert "南镇" in text  # per-unit failures named
    assert "卫生资源统计_2018.xlsx" in text  # data sources in the appendix
    assert "张三" in text  # the reviewer of the qualitative target


@pytest.mark.integration
def test_pdf_embeds_noto_cjk_and_no_glyph_is_missing(rendered):
    files, captured = rendered
    fonts = _tool("pdffonts", str(files.pdf)).splitlines()[2:]
    cjk = [line for line in fonts if "Noto" in line and "CJK" in line]
    assert cjk, fonts
    for line in cjk:
        assert line.split()[-5] == "yes"  # emb
    assert not [m for m in captured if ".notdef" in m]
    assert not [w for w in files.warnings if ".notdef" in w]
    assert not captured  # no WeasyPrint warning at all (SVG, CSS, anchors)


@pytest.mark.integration
def test_missing_glyphs_would_be_caught():
    from flows.report import render_pdf

    _, _, warnings = render_pdf("<p>\U0010fffd</p>")
    assert any(".notdef" in w for w in warnings)


def _table_html(rows: int) -> str:
    cells = "".join(f"<tr><td>第{i}行</td><td>{i * 1.5:.2f}</td></tr>" for i in range(rows))
    return f"<html><body><table>{cells}</table></body></html>"


@pytest.mark.integration
def test_a_render_leaves_none_of_its_layout_behind_for_the_collector():
    # the collector is held back during a layout; the layout's cycles must still go at its end
    import gc

    from flows.report import render_pdf

    render_pdf("<p>warm</p>")
    gc.collect()
    before = len(gc.get_objects())
    render_pdf(_table_html(800))
    assert len(gc.get_objects()) - before < 5_000  # Python's default settings leave ~150,000


@pytest.mark.integration
def test_the_collector_is_held_back_only_during_the_layout():
    import gc

    from writers.pdf import LAYOUT_GC_THRESHOLD, fewer_collections, render_pdf, template_fetcher

    default = gc.get_threshold()
    seen = []
    fetcher = template_fetcher()
    fetch = fetcher.fetch

    def spying_fetch(url, headers=None):
        seen.append((gc.get_threshold(), gc.get_freeze_count() > 0))
        return fetch(url, headers)

    fetcher.fetch = spying_fetch
    render_pdf('<p>x<img src="https://example.invalid/a.png"></p>', fetcher=fetcher)
    assert seen == [(LAYOUT_GC_THRESHOLD, True)]  # asked while WeasyPrint was laying out
    assert gc.get_threshold() == default and gc.get_freeze_count() == 0
    # concurrent renders: the last one out restores, also when a layout fails
    with fewer_collections():
        with pytest.raises(RuntimeError), fewer_collections():
            raise RuntimeError("a failed layout")
        assert gc.get_threshold() == LAYOUT_GC_THRESHOLD
    assert gc.get_threshold() == default and gc.get_freeze_count() == 0


@pytest.mark.integration
def test_page_count_and_toc_page_numbers(rendered):
    files, _ = rendered
    info = _tool("pdfinfo", str(files.pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M).group(1))
    assert pages == files.pages >= 8
    toc = pdftext(files.pdf, 2)
    for title in ("四、存在问题及原因分析", r"附件2\s*数据质量说明", r"附件4\s*评估方法"):
        m = re.search(rf"^\s*{title}\s*\.{{3,}}\s*(\d+)\s*$", toc, flags=re.M)
        assert m, (title, toc)
        page = int(m.group(1))
        assert 2 < page <= pages
        assert re.search(rf"^\s*{title}\s*$", pdftext(files.pdf, page), flags=re.M)
    header_footer = pdftext(files.pdf, 3)
    assert "示例区卫生健康“十三五”规划 · 中期评估" in header_footer
    assert f"第3页 共 {pages} 页".replace(" ", "") in header_footer.replace(" ", "")


@pytest.mark.integration
def test_each_file_is_recorded_with_checksum_and_inputs(env, rendered):
    from flows.common import catalog
    from warehouse.results import find_reports

    files, _ = rendered
    recorded = {r["format"]: r for r in find_reports(env["engine"], "demo", "mid")}
    assert set(recorded) == {"pdf", "html", "xlsx", "docx"}
    for fmt, path in (("pdf", files.pdf), ("html", files.html), ("xlsx", files.xlsx),
                      ("docx", files.docx)):  # fmt: skip
        r = recorded[fmt]
        assert r["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert Path(r["path"]) == path.resolve()
        assert r["data_year"] == 2018 and r["as_of"] == AS_OF
        assert r["code_version"]
        inputs = r["inputs"]
        assert inputs["source_files"] == [hashlib.sha256(b"resources").hexdigest()]
        assert inputs["definition_checksum"] == catalog().checksum()
        assert inputs["reviews"]["5"]["reviewer"] == "张三"


@pytest.mark.integration
def test_xlsx_has_chinese_headers_number_formats_and_a_frozen_header(rendered):
    from openpyxl import load_workbook

    files, _ = rendered
    wb = load_workbook(files.xlsx)
    ws = wb["主要指标"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["序号", "指标名称", "单位"] and "状态" in headers
    assert ws.freeze_panes == "C2"
    first = {h: c for h, c in zip(headers, ws[2], strict=True)}
    assert first["指标名称"].value == "注册护士"
    assert first["现值xc"].value == pytest.approx(1.95) and first["现值xc"].number_format == "0.00"
    assert first["ρ"].number_format == "0.000" and first["τ"].number_format == "0.00"
    row8 = {h: c for h, c in zip(headers, ws[9], strict=True)}
    assert row8["现值xc"].number_format == "0"  # indicator 8 has 0 decimals
    assert set(wb.sheetnames) == {"主要指标", "分地区", "说明", "年度数据", "数据质量", "数据来源"}


# ------------------------------------------------------------------------------ hostile values


@pytest.mark.integration
def test_a_hostile_value_is_printed_as_text_and_nothing_is_fetched(tmp_path):
    from flows.report import render_html, render_pdf, template_fetcher

    plan = demo_plan(title_zh=EVIL + "规划")
    first = plan.indicators[0].model_copy(update={"name_zh": EVIL, "unit": "<b>x</b>"})
    plan = plan.model_copy(update={"indicators": [first, *plan.indicators[1:]]})
    ctx, _ = demo_context(
        plan=plan, issuing_body='<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
    )
    html = render_html(ctx)
    assert EVIL not in html and "<b>x</b>" not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    fetcher = template_fetcher()
    pdf, _, _ = render_pdf(html, fetcher)
    assert not [u for u in fetcher.requested if "passwd" in u or u.startswith("http")]
    out = tmp_path / "evil.pdf"
    out.write_bytes(pdf)
    text = pdftext(out)
    assert "file:///etc/passwd" in text and "<img" in text  # shown literally
    assert "root:" not in text


@pytest.mark.integration
def test_the_fetcher_serves_only_the_template_folder(tmp_path):
    from flows.report import TEMPLATES_DIR, render_pdf, template_fetcher

    fetcher = template_fetcher()
    css = (TEMPLATES_DIR / "report.css").as_uri()
    assert fetcher(css).read().startswith(b"/*")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in (
        "file:///etc/passwd",
        outside.as_uri(),
        TEMPLATES_DIR.as_uri() + "/../pyproject.toml",
        "http://127.0.0.1:9/x.css",
        "https://example.org/a.png",
        "data:text/plain,hello",
        "ftp://example.org/x",
    ):
        with pytest.raises(ValueError):
            fetcher(url)
    # markup that asks for those, rendered: refused, logged, and the render still succeeds
    fetcher = template_fetcher()
    markup = (
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        '<img src="file:///etc/passwd"><img src="../pyproject.toml"><p>正文</p>'
    )
    pdf, pages, warnings = render_pdf(markup, fetcher)
    assert pdf.startswith(b"%PDF") and pages == 1
    assert fetcher.served == []
    assert len(fetcher.requested) == 3
    assert any("refused" in w for w in warnings)


def test_template_helpers_escape_before_they_mark_up():
    from flows.report import css_string, sym

    assert str(sym("预测 hat{x}_{T}")) == '预测 <span class="hat">x</span><sub>T</sub>'
    assert str(sym("<b>x_{0}</b>")) == "&lt;b&gt;x<sub>0</sub>&lt;/b&gt;"
    hostile = str(css_string('页"</style><script>'))
    assert hostile.startswith('"页') and hostile.count('"') == 2 and "<" not in hostile


def test_xlsx_never_writes_data_as_a_formula(tmp_path):
    from openpyxl import load_workbook

    from flows.report import render_xlsx

    hostile = ["=1+1", '=HYPERLINK("http://evil","x")', "+SUM(A1)", "-2+3", "@cmd", "\t=1"]
    plan = demo_plan()
    inds = [
        i.model_copy(update={"name_zh": name})
        for i, name in zip(plan.indicators, hostile, strict=False)
    ]
    plan = plan.model_copy(update={"indicators": inds + plan.indicators[len(hostile) :]})
    ctx, rows = demo_context(plan=plan)
    out = tmp_path / "t.xlsx"
    out.write_bytes(render_xlsx(ctx, rows, plan))
    ws = load_workbook(out)["主要指标"]
    names = [ws.cell(row=r, column=2) for r in range(2, 2 + len(hostile))]
    assert [c.value for c in names] == hostile
    assert all(c.data_type == "s" for c in names)
    for c in ws.iter_rows():
        for cell in c:
            assert cell.data_type != "f"
    with zipfile.ZipFile(out) as z:  # the raw sheet XML holds no <f> (formula) element either
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode()


# ------------------------------------------------------------------------------ atomic writes


def _previous(folder: Path) -> dict[Path, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    old = {
        folder / f"demo_mid_2018.{ext}": f"previous {ext}".encode()
        for ext in ("pdf", "html", "xlsx")
    }
    for p, b in old.items():
        p.write_bytes(b)
    return old


def _inputs():
    from flows.report import ReportInputs

    return ReportInputs(
        plan=demo_plan(), areas=AREAS, quality_issues=[], source_files=[],
        definition_checksum="0" * 64, code_version="test",
    )  # fmt: skip


def test_a_render_that_fails_leaves_the_previous_files(tmp_path, monkeypatch):
    from flows import report

    old = _previous(tmp_path)

    def broken(html, fetcher=None):
        raise RuntimeError("layout failed half-way")

    monkeypatch.setattr(report, "render_pdf", broken)
    with pytest.raises(RuntimeError):
        report.render_report(demo_assessment(), out_dir=tmp_path, engine=object(), inputs=_inputs())
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old)


@pytest.mark.integration
def test_a_write_that_fails_midway_leaves_no_partial_file(tmp_path, monkeypatch):
    from flows import report

    old = _previous(tmp_path)
    calls = {"n": 0}
    real_fsync = os.fsync

    def flaky_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 2:  # the first file is staged, the second one dies mid-way
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    with pytest.raises(OSError):
        report.render_report(demo_assessment(), out_dir=tmp_path, engine=object(), inputs=_inputs())
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(p.name for p in old)
    assert not list(tmp_path.glob("archive/*"))  # nor half an archive


@pytest.mark.integration
def test_a_new_render_keeps_the_previous_files_in_the_archive(env, tmp_path):
    from flows import report

    _previous(tmp_path)
    files = report.render_report(
        demo_assessment(), out_dir=tmp_path, engine=env["engine"], inputs=_inputs(),
        formats=["html", "xlsx", "docx"],
    )  # fmt: skip
    assert files.paths() == [files.html, files.xlsx, files.docx]
    archived = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert len(archived) == 2 and all(n.startswith("demo_mid_2018_asof") for n in archived)
    assert {p.suffix for p in (tmp_path / "archive").iterdir()} == {".html", ".xlsx"}
    kept = {p.suffix: p.read_bytes() for p in (tmp_path / "archive").iterdir()}
    assert kept[".html"] == b"previous html" and kept[".xlsx"] == b"previous xlsx"
    assert (tmp_path / "demo_mid_2018.pdf").read_bytes() == b"previous pdf"  # not asked for
    assert files.html.read_bytes() != b"previous html"
    # the same file again is not archived twice; a different one gets its own name
    again = report.render_report(
        demo_assessment(), out_dir=tmp_path, engine=env["engine"], inputs=_inputs(),
        formats=["xlsx"],
    )  # fmt: skip
    assert len(list((tmp_path / "archive").iterdir())) == 3 and again.archived


def test_write_atomically_replaces_all_files(tmp_path):
    from flows.report import write_atomically

    old = _previous(tmp_path)
    write_atomically({p: b"new " + p.suffix.encode() for p in old})
    assert {p.read_bytes() for p in old} == {b"new .pdf", b"new .html", b"new .xlsx"}
    assert oct(next(iter(old)).stat().st_mode & 0o777) == "0o644"


def test_report_names_and_reproductions():
    from flows.report import report_stem

    assert report_stem("longhu", "mid", 2018) == "longhu_mid_2018"
    moment = datetime(2019, 3, 1, 10, 0, tzinfo=UTC)
    assert report_stem("longhu", "mid", 2018, moment) == "longhu_mid_2018_asof20190301T100000"


# ------------------------------------------------------------------------------ the command


@pytest.mark.integration
def test_report_command_unwritable_folder_is_a_message_not_a_traceback(env, monkeypatch, capsys):
    from flows.report import report_command
    from healthplan.settings import get_settings

    blocker = env["base"] / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(blocker / "reports"))
    get_settings.cache_clear()
    try:
        assert report_command("demo", "mid", 2018, None, False) == 1
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "报告未生成" in err and "Traceback" not in err


def test_report_command_unknown_plan(env, capsys):
    from flows.report import report_command

    assert report_command("nope", "mid", None, None, False) == 1
    assert "nope" in capsys.readouterr().err


# ------------------------------------------------------------------------------ mail


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _settings(port, **kw):
    from healthplan.settings import Settings

    return Settings(
        smtp_host="127.0.0.1", smtp_port=port, mail_from="healthplan@example.org",
        mail_to=["leader@example.org", "office@example.org"], **kw,
    )  # fmt: skip


def test_mail_arrives_with_the_pdf_attached(smtp_server, tmp_path):
    from flows.distribute import mail_report

    inbox, port = smtp_server
    pdf = tmp_path / "demo_mid_2018.pdf"
    pdf.write_bytes(b"%PDF-1.7 test report")
    sent = mail_report(pdf, "示例规划中期评估报告", "见附件。", _settings(port))
    assert sent == ["leader@example.org", "office@example.org"]
    (envelope,) = inbox.messages
    assert sorted(envelope.rcpt_tos) == ["leader@example.org", "office@example.org"]
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "示例规划中期评估报告"
    (att,) = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert att.get_filename() == "demo_mid_2018.pdf"
    assert att.get_content() == pdf.read_bytes()
    assert "见附件" in msg.get_body(("plain",)).get_content()


def test_mail_failures_never_show_the_password(smtp_server, tmp_path, caplog):
    from flows.distribute import MailError, mail_report

    _, port = smtp_server
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF")
    secret = "s3cret-Pa55"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailError) as e:  # this server offers no AUTH without TLS
        mail_report(pdf, "s", "b", _settings(port, smtp_user="bureau", smtp_password=secret))
    assert secret not in str(e.value) and secret not in caplog.text
    with pytest.raises(MailError, match="HEALTHPLAN_SMTP_HOST"):
        mail_report(pdf, "s", "b", _settings(port).model_copy(update={"smtp_host": None}))
    with pytest.raises(MailError):  # nobody listening
        mail_report(pdf, "s", "b", _settings(1, smtp_password=secret), timeout=2)


@pytest.mark.integration
def test_report_command_renders_from_the_warehouse_and_mails(env, smtp_server, monkeypatch, capsys):
    from flows.report import report_command
    from healthplan.settings import get_settings

    inbox, port = smtp_server
    monkeypatch.setenv("HEALTHPLAN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HEALTHPLAN_SMTP_PORT", str(port))
    monkeypatch.setenv("HEALTHPLAN_MAIL_TO", '["leader@example.org"]')
    get_settings.cache_clear()
    try:
        code = report_command("demo", "end", None, None, True, allow_incomplete=True)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "demo_end_2020.pdf" in out.out and "leader@example.org" in out.out
    assert "报告已标注“数据不完整”" in out.err  # the demo warehouse holds no values
    (envelope,) = inbox.messages
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert [p.get_filename() for p in msg.iter_attachments()] == ["demo_end_2020.pdf"]


# ------------------------------------------------------------------------------ Prefect


@pytest.mark.integration
def test_report_flow_renders_in_parallel_and_publishes_the_paths(env, prefect_harness):
    from prefect.artifacts import Artifact

    from flows.report import report_flow

    result = report_flow(plans=["demo"], stages=["mid", "end"], allow_incomplete=True)
    artifact = Artifact.get("evaluation-reports")
    assert set(result) == {"demo/mid", "demo/end"}
    for paths in result.values():
        assert [Path(p).suffix for p in paths] == [".pdf", ".html", ".xlsx", ".docx"]
        assert all(Path(p).exists() for p in paths)
    assert artifact is not None and "demo_end_2020.pdf" in artifact.data


# ------------------------------------------------------------------------------ worker processes


def _comparable(text: str) -> str:
    """PDF text without the moment it was generated (the appendix prints it)."""
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", "<moment>", text)
    return re.sub(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", "<moment>", text)


def _spawned_during(run) -> dict:
    """What ``run()`` returned and the names of the worker processes seen while it ran."""
    import multiprocessing
    import threading

    names: set[str] = set()
    done = threading.Event()

    def watch():
        while not done.wait(0.05):
            names.update(p.name for p in multiprocessing.active_children())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run()
    finally:
        done.set()
        watcher.join()
    return {"result": result, "names": {n for n in names if n.startswith("Spawn")}}


def _pages(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _tool("pdfinfo", str(pdf)), flags=re.M).group(1))


def test_reports_go_to_the_workers_longest_first_and_missing_ones_last():
    from dataclasses import replace

    from flows.report import render_order

    short = demo_assessment()
    long = replace(short, rows=short.rows * 3)
    assert render_order({"a": short, "b": None, "c": long, "d": short}) == ["c", "a", "d", "b"]


def test_a_worker_is_sent_only_the_ids_of_the_source_files():
    from dataclasses import replace

    from flows.report import slim_for_render

    a = demo_assessment(7)
    a = replace(a, observations=pd.DataFrame({"source_file_id": [7, 7, 8], "value": [1.0, 2, 3]}))
    slim = slim_for_render(a)
    assert list(slim.observations.columns) == ["source_file_id"]
    assert slim.source_file_ids() == a.source_file_ids() == [7, 8]
    assert slim.rows is a.rows and slim.values is a.values
    # with their years: a report's content key names the files of the years it shows
    years = pd.DataFrame({"source_file_id": [7, 7, 8], "year": [2018, 2018, 2020], "value": 1.0})
    slim = slim_for_render(replace(a, observations=years))
    assert slim.observations.to_dict("list") == {"source_file_id": [7, 8], "year": [2018, 2020]}


def test_one_report_renders_in_process():
    from flows.report import report_workers

    with report_workers(1) as pool:
        assert pool is None


def test_an_error_whose_init_takes_more_than_a_message_travels_whole():
    import pickle

    from flows.report import portable_error
    from warehouse.engine import WarehouseUnavailable

    hidden = "s3cret-pw"
    url = f"postgresql+psycopg://u:{hidden}@db/x"
    e = WarehouseUnavailable(url, "OperationalError: refused", 4)
    back = pickle.loads(pickle.dumps(portable_error(e)))
    assert type(back) is WarehouseUnavailable
    assert str(back) == str(e) and back.attempts == 4 and hidden not in str(back)


@pytest.mark.integration
def test_a_worker_process_renders_what_the_parent_would(env, tmp_path):
    import multiprocessing

    from flows.report import RenderPool, render_report
    from healthplan.settings import get_settings
    from warehouse.results import find_reports

    a = demo_assessment(env["file_id"])
    here = render_report(a, out_dir=tmp_path / "here", engine=env["engine"], stem="demo_here")
    pool = RenderPool(2, get_settings().effective_database_url, tmp_path / "workers")
    try:
        workers = [p for p in multiprocessing.active_children() if p.name.startswith("Spawn")]
        assert len(workers) == 2
        there = pool.render(a, stem="demo_mid_2018")
    finally:
        pool.close()
    assert there.pdf == tmp_path / "workers" / "demo_mid_2018.pdf"
    assert there.pages == here.pages == _pages(there.pdf)
    assert _comparable(pdftext(there.pdf)) == _comparable(pdftext(here.pdf))
    assert not there.warnings
    recorded = {r["path"]: r for r in find_reports(env["engine"], "demo", "mid")}
    for path in there.paths():
        assert (
            recorded[str(path.resolve())]["checksum"]
            == hashlib.sha256(path.read_bytes()).hexdigest()
        )


@pytest.mark.integration
def test_an_error_in_a_worker_is_the_error_the_parent_would_raise(env, tmp_path):
    from dataclasses import replace

    from flows.report import RenderPool, render_report
    from healthplan.settings import get_settings
    from warehouse.engine import WarehouseUnavailable, get_engine

    url, engine = get_settings().effective_database_url, env["engine"]
    good = demo_assessment(env["file_id"])
    broken = replace(good, rows=[{"number": 1}])  # the context cannot be built
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    unreachable = f"sqlite:///{a_file / 'warehouse.sqlite'}"
    here = {}
    for name, call in {
        "broken": lambda: render_report(broken, out_dir=tmp_path, engine=engine),
        "unwritable": lambda: render_report(good, out_dir=a_file / "reports", engine=engine),
        "unreachable": lambda: get_engine(unreachable),
    }.items():
        with pytest.raises(Exception) as raised:
            call()
        here[name] = raised.value

    pool = RenderPool(1, url, tmp_path)
    try:
        with pytest.raises(type(here["broken"])) as there:
            pool.render(broken, stem="broken")
        assert str(there.value) == str(here["broken"])
        assert pool.render(good, stem="after_an_error").pages > 1  # the pool still works
    finally:
        pool.close()
    pool = RenderPool(1, url, a_file / "reports")
    try:
        with pytest.raises(type(here["unwritable"])) as there:
            pool.render(good, stem=f"demo_mid_{good.data_year}")
        assert (there.value.errno, there.value.filename) == (
            here["unwritable"].errno,
            here["unwritable"].filename,
        )
    finally:
        pool.close()
    pool = RenderPool(1, unreachable, tmp_path)  # the parent reads its inputs, the worker fails
    try:
        with pytest.raises(WarehouseUnavailable) as there:
            pool.render(good, stem="nowhere", engine=engine)
        assert str(there.value) == str(here["unreachable"])
        assert there.value.attempts == here["unreachable"].attempts
    finally:
        pool.close()


UNGUARDED = """
import pickle, sys
sys.path.insert(0, {repo!r})
from flows.report import RenderPool, ReportError
with open({pickled!r}, "rb") as fh:
    a = pickle.load(fh)
pool = RenderPool(1, {url!r}, {out!r})
try:
    pool.render(a, stem="unguarded")
except ReportError as e:
    print("ReportError:", e)
finally:
    pool.close()
"""


@pytest.mark.integration
def test_a_script_without_a_main_guard_is_told_why_its_worker_died(env, tmp_path):
    """Each worker runs a script file again as it starts: a top-level call of the flows then
    kills the worker, and the message says what to change instead of guessing at memory."""
    import pickle
    import sys

    from healthplan.settings import REPO_ROOT, get_settings

    pickled = tmp_path / "a.pkl"
    pickled.write_bytes(pickle.dumps(demo_assessment(env["file_id"])))
    script = tmp_path / "nightly_by_hand.py"
    script.write_text(
        UNGUARDED.format(repo=str(REPO_ROOT), pickled=str(pickled), out=str(tmp_path / "out"),
                         url=get_settings().effective_database_url),
        encoding="utf-8",
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    said = run.stdout.strip()
    assert said.startswith("ReportError: 报告 unguarded 未生成"), said
    assert "nightly_by_hand.py" in said and 'if __name__ == "__main__":' in said
    assert not (tmp_path / "out" / "unguarded.pdf").exists()


@pytest.mark.integration
def test_report_flow_renders_in_processes_what_one_process_renders(env, prefect_harness, tmp_path):
    from flows.evaluate import assess
    from flows.report import render_report, report_flow, worker_count

    workers = _spawned_during(
        lambda: report_flow(
            plans=["demo"], stages=["mid", "end"], as_of=AS_OF, allow_incomplete=True
        )
    )
    result = workers.pop("result")
    if worker_count() > 1:
        assert len(workers["names"]) == 2, workers  # one worker per report (2 cores here)
    assert list(result) == ["demo/mid", "demo/end"]
    for stage in ("mid", "end"):
        pdf = Path(result[f"demo/{stage}"][0])
        here = render_report(
            assess("demo", stage, as_of=AS_OF), out_dir=tmp_path, stem=pdf.stem, as_of=AS_OF
        )
        assert _pages(pdf) == here.pages
        assert _comparable(pdftext(pdf)) == _comparable(pdftext(here.pdf))


def _task_runs(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        return client.read_task_runs(flow_run_filter=only)


@pytest.mark.integration
def test_report_flow_fails_on_a_report_that_cannot_be_written_as_before(env, prefect_harness):
    from datetime import timedelta

    from flows.evaluate import assess
    from flows.report import render_report, report_flow, report_stem

    moment = AS_OF + timedelta(hours=1)
    reports = env["base"] / "reports"
    blocked = reports / f"{report_stem('demo', 'end', 2020, moment)}.pdf"
    blocked.mkdir(parents=True)  # a folder where the PDF goes: os.replace fails, retried twice
    try:
        with pytest.raises(IsADirectoryError) as here:
            render_report(assess("demo", "end", as_of=moment), stem=blocked.stem)
        state = report_flow(
            plans=["demo"], stages=["mid", "end"], as_of=moment, allow_incomplete=True,
            return_state=True,
        )  # fmt: skip
        assert state.is_failed()
        there = state.result(raise_on_failure=False)
        assert type(there) is IsADirectoryError
        assert (there.errno, there.filename2) == (here.value.errno, here.value.filename2)
        runs = {r.name: r for r in _task_runs(state.state_details.flow_run_id)}
        failed = next(
            r for n, r in runs.items() if n.startswith("render_task") and r.state.is_failed()
        )
        assert failed.run_count == 3  # retried twice, as an I/O error is
        assert (reports / f"{report_stem('demo', 'mid', 2018, moment)}.pdf").is_file()
        assert not list(reports.glob(".*.part"))
    finally:
        blocked.rmdir()


@pytest.mark.integration
def test_report_date_and_formats_are_chosen_on_the_command_line(env, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from healthplan.settings import get_settings

    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        # the demo warehouse here holds no values: rendered all the same, marked 数据不完整
        args = ["report", "--plan", "demo", "--stage", "mid", "--year", "2018",
                "--allow-incomplete"]  # fmt: skip
        done = runner.invoke(app, [*args, "--format", "html", "--format", "docx",
                                   "--date", "2019-03-20"])  # fmt: skip
        bad = runner.invoke(app, [*args, "--date", "2019-13-01"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    written = sorted(p.name for p in (tmp_path / "reports").iterdir() if p.is_file())
    assert written == ["demo_mid_2018.docx", "demo_mid_2018.html"]
    html = (tmp_path / "reports" / "demo_mid_2018.html").read_text(encoding="utf-8")
    assert '<div class="date">2019年3月20日</div>' in html
    from docx import Document

    doc = Document(str(tmp_path / "reports" / "demo_mid_2018.docx"))
    assert "2019年3月20日" in [p.text for p in doc.paragraphs]
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
