"""The ingest flow against a real warehouse (SQLite and PostgreSQL): quarantine, idempotence,
revisions, unreadable files, refused paths, and the summary a user sees."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from healthplan.definitions import AreaSet, ElementCatalog
from healthplan.layouts import load_layouts
from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration

PLANS = REPO_ROOT / "plans"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MCH_HEADER = ["地区代码", "地区名称", "年份", "活产数", "婴儿死亡数", "5岁以下儿童死亡数", "孕产妇死亡数",
              "住院分娩活产数", "孕产妇系统管理人数", "0-6岁儿童数", "0-6岁儿童健康管理人数", "3岁以下儿童数",
              "3岁以下儿童系统管理人数", "5岁以下儿童体检人数", "5岁以下儿童生长迟缓人数", "5岁以下儿童贫血人数",
              "围产儿数", "出生缺陷数"]  # fmt: skip
POP_HEADER = ["行政区划代码", "地区名称", "年份", "常住人口（万人）", "65岁及以上常住人口（万人）",
              "出生人口（男）", "出生人口（女）", "死亡人口（人）", "地区生产总值（亿元）"]  # fmt: skip
STREETS = ["440507001", "440507002", "440507003", "440507004", "440507005", "440507100"]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def mch_row(code: str, year: object = 2019, first: object = 100) -> list[object]:
    return [code, f"地区{code}", year, first] + [str(10 + i) for i in range(len(MCH_HEADER) - 4)]


def pop_rows(resident: str = "10.5") -> list[list[object]]:
    return [POP_HEADER] + [
        [code, "街道", 2019, resident, "1.2", 50, 45, 30, "3.4"] for code in STREETS[:3]
    ]


@pytest.fixture(scope="module")
def context():
    from flows.ingest import ParseContext
    from transforms.parsing import CatalogInfo

    elements = {}
    for path in sorted(PLANS.glob("**/elements.yaml")):
        data = ElementCatalog.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        elements.update({e.code: e for e in data.elements})
    areas = AreaSet.model_validate(
        yaml.safe_load((PLANS / "longhu" / "areas.yaml").read_text(encoding="utf-8"))
    )
    return ParseContext(
        load_layouts(PLANS / "sources", elements), CatalogInfo.from_areas(elements, areas.areas)
    )


@pytest.fixture
def engine(db_url: str):
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    eng = get_engine(db_url)
    upgrade(eng)
    return eng


def ingest(paths, engine, context, now=T0, **kw):
    from flows.ingest import ingest_paths

    return ingest_paths([Path(p) for p in paths], engine=engine, now=now, context=context, **kw)


def table_counts(engine) -> dict[str, int]:
    from warehouse.observations import counts

    return {
        k: v for k, v in counts(engine).items() if k in ("source_file", "observation", "quarantine")
    }


# ------------------------------------------------------------------------------------------------


def test_three_bad_rows_are_quarantined_and_the_rest_loaded(tmp_path, engine, context):
    from warehouse.observations import observations_as_of, quarantined, source_files

    rows = [
        MCH_HEADER,
        mch_row(STREETS[0]),
        mch_row("999999"),  # row 3: unknown area
        mch_row(STREETS[1]),
        mch_row(STREETS[2], year=2031),  # row 5: future year
        mch_row(STREETS[3], first="-7"),  # row 6: negative count (its other cells load)
        mch_row(STREETS[4]),
    ]
    (tmp_path / "mch_2019.csv").write_bytes(csv_bytes(rows, "gbk"))
    summary = ingest([tmp_path], engine, context)

    assert summary.exit_code == 3
    [f] = summary.files
    assert (f.status, f.source, f.layout, f.encoding) == ("partial", "mch", "mch_v1", "gbk")
    assert (f.rows_read, f.rows_rejected) == (6, 3)
    q = quarantined(engine)
    assert sorted(zip(q["row"], q["field"], strict=True)) == [
        (3, "地区代码"),
        (5, "年份"),
        (6, "活产数"),
    ]
    assert "unknown area code" in q.loc[q["row"] == 3, "reason"].item()
    assert "future" in q.loc[q["row"] == 5, "reason"].item()
    assert "negative" in q.loc[q["row"] == 6, "reason"].item()
    assert set(q["source_file_id"]) == {f.file_id}

    obs = observations_as_of(engine)
    per_area = obs.groupby("area_code").size().to_dict()
    n = len(MCH_HEADER) - 3
    assert per_area == {STREETS[0]: n, STREETS[1]: n, STREETS[3]: n - 1, STREETS[4]: n}
    live = obs[(obs.area_code == STREETS[1]) & (obs.element == "live_births")]
    assert live["value"].item() == 100 and live["source_rows"].item() == "4"
    sf = source_files(engine).iloc[0]
    assert (sf["status"], sf["rows_read"], sf["rows_rejected"]) == ("partial", 6, 3)

    md = summary.to_markdown()
    assert "隔离 rejected" in md and "999999" in md


def test_the_same_files_twice_change_nothing(tmp_path, engine, context):
    (tmp_path / "population_2019.csv").write_bytes(csv_bytes(pop_rows()))
    (tmp_path / "mch.csv").write_bytes(csv_bytes([MCH_HEADER, mch_row(STREETS[0])], "gbk"))
    first = ingest([tmp_path], engine, context)
    before = table_counts(engine)
    second = ingest([tmp_path], engine, context, now=T0 + timedelta(hours=1))
    assert table_counts(engine) == before
    assert first.exit_code == second.exit_code == 0
    assert [f.status for f in first.files] == ["loaded", "loaded"]
    assert [f.status for f in second.files] == ["skipped", "skipped"]
    assert second.totals["inserted"] == second.totals["revised"] == 0
    assert before["observation"] == first.totals["inserted"] > 0


def test_a_corrected_file_revises_the_changed_values(tmp_path, engine, context):
    from warehouse.observations import observation_history, observations_as_of

    old = tmp_path / "old" / "population_2019.csv"
    new = tmp_path / "new" / "population_2019.csv"
    old.parent.mkdir()
    new.parent.mkdir()
    old.write_bytes(csv_bytes(pop_rows("10.5")))
    rows = pop_rows("10.5")
    rows[2][3] = "11.25"  # the second street's population, corrected
    new.write_bytes(csv_bytes(rows))

    first = ingest([old], engine, context)
    second = ingest([new], engine, context, now=T0 + timedelta(days=30))
    assert first.files[0].inserted > 0
    f = second.files[0]
    assert (f.status, f.inserted, f.revised) == ("loaded", 0, 1)
    assert f.unchanged == first.files[0].inserted - 1
    history = observation_history(engine, STREETS[1], 2019, "pop_resident")
    assert history["value"].tolist() == [105000.0, 112500.0]
    assert history["revision"].tolist() == [1, 2]
    before = observations_as_of(engine, T0 + timedelta(days=1), elements=["pop_resident"])
    assert before.loc[before.area_code == STREETS[1], "value"].item() == 105000.0


def test_an_unreadable_file_stores_nothing_but_its_reason(tmp_path, engine, context):
    from warehouse.observations import observations_as_of, quarantined, source_files

    (tmp_path / "population_2019.csv").write_bytes(csv_bytes(pop_rows()))
    mixed = csv_bytes([MCH_HEADER, mch_row(STREETS[0])], "utf-8") + csv_bytes(
        [mch_row(STREETS[1])], "gbk"
    )
    (tmp_path / "mch_2019.csv").write_bytes(mixed)
    (tmp_path / "resources_2019.xlsx").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "notes.txt").write_text("ignored: not csv/xlsx")

    summary = ingest([tmp_path], engine, context)
    assert summary.exit_code == 2
    status = {f.name: f.status for f in summary.files}
    assert status == {
        f"{tmp_path.name}/mch_2019.csv": "unreadable",
        f"{tmp_path.name}/population_2019.csv": "loaded",
        f"{tmp_path.name}/resources_2019.xlsx": "unreadable",
    }
    files = source_files(engine)
    assert files["name"].tolist() == [f"{tmp_path.name}/population_2019.csv"]
    assert set(observations_as_of(engine)["source_file_id"]) == set(files["id"])
    q = quarantined(engine)
    assert len(q) == 2 and q["row"].isna().all() and q["source_file_id"].isna().all()
    assert q["checksum"].str.len().eq(64).all()
    assert any("编码混杂" in r for r in q["reason"])
    before = table_counts(engine)
    again = ingest([tmp_path], engine, context, now=T0 + timedelta(hours=1))
    assert again.exit_code == 2
    assert table_counts(engine) == before  # the same failure is recorded once


def test_paths_escaping_the_folder_are_refused(tmp_path, engine, context):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_bytes(csv_bytes(pop_rows()))
    (inbox / "link.csv").symlink_to(outside)
    (inbox / "linkdir").symlink_to(tmp_path)
    summary = ingest([inbox, inbox / ".." / "secret.csv"], engine, context)
    assert summary.exit_code == 2
    messages = " ".join(m for f in summary.files for m in f.messages)
    assert "symlink leads out of the folder" in messages and "'..'" in messages
    assert table_counts(engine)["observation"] == 0
    only = ingest([outside], engine, context, roots=[inbox])
    assert "outside the allowed folders" in only.files[0].messages[0]


def test_summary_text_is_never_interpreted(tmp_path, engine, context):
    from rich.console import Console

    rows = [MCH_HEADER, mch_row(STREETS[0]), mch_row("[bold]x[/bold]<script>")]
    (tmp_path / "mch.csv").write_bytes(csv_bytes(rows))
    summary = ingest([tmp_path], engine, context)
    console = Console(record=True, width=250)
    summary.render(console)
    text = console.export_text()
    assert "[bold]x[/bold]<script>" in text
    assert "文件 file" in text and "入库 loaded" in text and "隔离 rejected" in text
    md = summary.to_markdown()
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_ingest_command_prints_and_returns_the_exit_code(tmp_path, isolated, monkeypatch, capsys):
    from flows.ingest import ingest_command

    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mch.csv").write_bytes(csv_bytes([MCH_HEADER, mch_row(STREETS[0])], "gbk"))
    assert ingest_command([str(tmp_path / "in")]) == 0
    assert ingest_command([str(tmp_path / "in")]) == 0  # skipped the second time
    assert ingest_command([str(tmp_path / "missing")]) == 2
    out = capsys.readouterr()
    assert "已跳过 skipped" in out.out and "Traceback" not in out.out + out.err


def test_ingest_flow_publishes_the_summary(tmp_path, isolated, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.ingest import ingest_flow

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mch.csv").write_bytes(
        csv_bytes([MCH_HEADER, mch_row(STREETS[0]), mch_row("999999")], "gbk")
    )
    result = ingest_flow([str(tmp_path / "in")])
    assert result["exit_code"] == 3
    assert result["totals"]["rows_rejected"] == 1
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts() if a.key}
    assert "ingest-summary" in keys


def test_folders_are_expanded_recursively_and_sorted(tmp_path):
    from flows.ingest import expand_paths

    for name in [
        "b/2.csv",
        "a/1.XLSX",
        "a/z/3.csv",
        "a/skip.txt",
        "a/.hidden.csv",
        "a/~$lock.xlsx",
    ]:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    found, refused = expand_paths([tmp_path, tmp_path / "b" / "2.csv"])
    root = tmp_path.name
    assert [c.name for c in found] == [f"{root}/a/1.XLSX", f"{root}/a/z/3.csv", f"{root}/b/2.csv"]
    assert refused == []
    assert os.path.samefile(found[-1].path, tmp_path / "b" / "2.csv")


def test_a_run_summary_names_each_file_that_needs_a_person_briefly():
    """`healthplan run` prints the totals and a line per partial or unreadable file, with its
    first rejected cells; long lists are cut with a count of what is left out."""
    from flows.ingest import FileResult, IngestSummary
    from transforms.parsing import Reject

    bad = [Reject("a.csv", r, "床位", str(-r), "负数 / negative") for r in range(2, 7)]
    files = [
        FileResult("a.csv", "partial", rows_rejected=5, rejects=bad),
        FileResult("b.xlsx", "unreadable", messages=["XLSX 文件损坏"]),
        FileResult("c.csv", "loaded", rows_loaded=9),
        *[FileResult(f"d{k}.csv", "unreadable", messages=["空文件"]) for k in range(3)],
    ]
    summary = IngestSummary(files=files)
    assert summary.headline() == (
        "导入 / ingest：6 个文件 files，已入库 1 · 部分入库 1 · 已跳过 0 · 无法读取 4；"
        "隔离 5 行 / rows quarantined"
    )
    lines = summary.attention(files=3, rows=2)
    assert lines == [
        "a.csv：部分入库 partial，隔离 5 行：第2行 床位「-2」负数 / negative；第3行 床位「-3」负数 / negative…",
        "b.xlsx：无法读取 unreadable：XLSX 文件损坏",
        "d0.csv：无法读取 unreadable：空文件",
        "… 另有 2 个文件 / 2 more files",
    ]
    assert IngestSummary(files=files[2:3]).attention() == []
