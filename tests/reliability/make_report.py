"""Write docs/reliability.md: every corpus input with its measured outcome, every fault and
what survived it.

    uv run python tests/reliability/make_report.py            # runs tests/reliability too
    uv run python tests/reliability/make_report.py --no-tests # the corpus outcomes only
    uv run python tests/reliability/make_report.py --junit A.xml B.xml  # reuse pytest results

The corpus part is measured here: each input ingested (as `healthplan ingest` does) into a fresh
SQLite warehouse holding the baseline, its exit code, status, quarantined cells and first
message recorded, and the stored data compared with what it was before. The pass/fail columns
come from a pytest run of tests/reliability (SQLite and PostgreSQL 15), read from its JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="healthplan-prefect-"))
os.environ.setdefault("PREFECT_API_URL", "")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from tests.reliability.helpers import entries, overlay_plans, prepare_warehouse  # noqa: E402

OUT = ROOT / "docs" / "reliability.md"
EXIT_TEXT = {0: "0 已入库 loaded", 3: "3 部分隔离 quarantined", 2: "2 无法读取 unreadable"}

# The fault tests (tests/reliability/test_faults.py, test_secrets.py): what each does to the
# system and what must survive it. Keyed by test name; results are read from the pytest run.
FAULTS = [
    ("test_killed_during_a_load",
     "进程在导入事务中被 SIGKILL（修订旧值时、写完观测值与隔离行即将完成时）/ SIGKILL inside a "
     "file's load transaction: while closing revised values, and just before it finishes "
     "(observations and quarantine rows written)",
     "仓库与之前完全相同，连文件登记都没有留下 / the warehouse exactly as before, not even the file's "
     "registration left",
     "同一文件再导入：正常入库，修订与隔离都正确 / the same file again loads: revisions and quarantine "
     "right"),
    ("test_killed_during_the_evaluation_writes",
     "保存评估结果时被 SIGKILL（删除旧集、插入新集时）/ SIGKILL while saving evaluations (deleting "
     "the old set, inserting the new one)",
     "评估表仍是完整的旧集 / the evaluation table holds the old set, whole",
     "下一次保存成功 / the next save succeeds"),
    ("test_killed_at_random_moments_while_saving_evaluations",
     "连续交替保存两套评估结果，随机时刻 SIGKILL（每库 3 次）/ two sets saved in turn, SIGKILL at "
     "random moments (3 per database)",
     "每次都是一整套（旧或新），从不混杂 / always one whole set (old or new), never a mix",
     "仓库一致性检查通过 / the consistency checks pass"),
    ("test_killed_during_a_render",
     "生成报告时被 SIGKILL：PDF 排版中、第一个临时文件写完时、PDF 已替换而 HTML 未替换时 / "
     "SIGKILL while rendering: during the PDF layout, after the first temporary file is written, "
     "between replacing the PDF and the HTML",
     "报告文件夹里没有残缺文件，之前的报告完好（或已整体换成新 PDF）；不记录报告 / no partial "
     "report file; the previous report intact (or the PDF wholly replaced); nothing recorded",
     "下一次生成成功并记录 3 个文件 / the next render succeeds and records its 3 files"),
    ("test_reports_folder_full_or_unwritable",
     "磁盘在写第二个文件一半时写满（ENOSPC）；报告文件夹拒绝写入（EACCES）/ the disk fills halfway "
     "through the second file (ENOSPC); the folder refuses new files (EACCES)",
     "提示信息、退出码 1；之前的报告逐字节不变，不留临时文件 / a message and exit 1; the previous "
     "report byte for byte, no temporary file left",
     "有空间、有权限后下一次生成成功 / with room and permission back the next render succeeds"),
    ("test_reports_folder_that_cannot_exist",
     "报告路径是一个文件，或位于文件之下 / the reports path is a file, or lies under one",
     "提示信息、退出码 1，该文件不被改动 / a message and exit 1, the file untouched",
     "换到可用的文件夹后生成成功 / a usable folder: the render succeeds"),
    ("test_database_unreachable_at_start_then_back",
     "启动时数据库不可达（127.0.0.1 上关闭的端口，URL 含密码）/ the database unreachable at start "
     "(a closed port on 127.0.0.1, a password in the URL)",
     "重试 4 次（退避 0.5+1+2 秒）后一条清楚的信息、退出码 4，密码显示为 *** / 4 attempts (0.5 + 1 "
     "+ 2 s backoff), then one clear message and exit 4, the password shown as ***",
     "数据库可用后 `db upgrade` 成功 / with the database back `db upgrade` succeeds"),
    ("test_two_pipelines_at_once",
     "两条流水线同时运行；一条持锁时被 SIGKILL / two pipelines at once; one killed holding the lock",
     "不等待的第二条被拒绝并说明持锁者，等待的一条在其后运行；评估只有一整套 / the second "
     "(not waiting) is refused naming the holder, a waiting one runs after; one whole evaluation "
     "set",
     "被杀进程的锁立即由下一次运行接管（持锁进程已不存在）/ the killed run's lock is taken over "
     "at once by the next run (its process is gone)"),
    ("test_db_upgrade_failures_never_show_the_password",
     "`healthplan db upgrade` 连接失败：普通密码、URL 编码的密码、无用户名的密码、库不存在 / "
     "`db upgrade` failures: a plain password, a URL-encoded one, one without a user name, a "
     "missing database",
     "输出中没有密码（含解码后的形式），只有 *** / the output never holds the password (nor its "
     "decoded form), only ***", "—"),
    ("test_engine_retries_log_no_password",
     "连接重试的日志 / the log lines of the connection retries",
     "每次重试一条警告，URL 已屏蔽 / one warning per retry, the URL masked", "—"),
    ("test_a_working_run_keeps_the_password_out_of_output_logs_and_the_warehouse",
     "带密码的 URL 正常运行 `db upgrade` 与 `ingest` / a URL with a password, `db upgrade` and "
     "`ingest` that work",
     "输出、仓库各表、数据与报告文件夹中都没有密码 / no password in the output, in any table, in "
     "the data or reports folders", "—"),
    ("test_no_credentials_in_the_repository",
     "检查仓库中的所有源文件 / every source file of the repository scanned",
     "除示例占位符（CHANGE_ME、***）和测试用假密码外没有凭据 / no credential but placeholders "
     "(CHANGE_ME, ***) and the tests' fake passwords", "—"),
    # ---- round 2 (issue 23)
    ("test_a_file_that_aborts_the_reader_fails_alone",
     "一个工作簿让 XLSX 读取器本身异常终止（工作表声明范围之外的远处单元格，退出码 134），一个或多个解析进程 / "
     "a workbook that makes the XLSX reader itself abort (a far cell outside the sheet's declared dimension, exit 134), with one "
     "parse worker or several",
     "只有该文件失败（退出码 2，点名），其余文件全部入库；进程与运行都不中断 / that file alone "
     "fails (exit 2, named), every other file loads; neither the process nor the run dies",
     "仓库一致性检查通过 / the consistency checks pass"),
    ("test_parse_workers_run_under_the_configured_memory_limit",
     "解析进程的内存上限（HEALTHPLAN_PARSE_MEMORY_MB）/ the parse workers' memory limit "
     "(HEALTHPLAN_PARSE_MEMORY_MB)",
     "每个解析进程的地址空间按设置封顶，超出即在该进程内失败 / each parse process's address space "
     "is capped as set; an allocation past it fails in that process", "—"),
    ("test_file_names_the_warehouse_cannot_keep_fail_alone",
     "文件名不是 UTF-8 字节；路径长于仓库可存的 500 个字符 / a file name that is not UTF-8 bytes; "
     "a path longer than the 500 characters the warehouse keeps",
     "入库前即拒收并点名（两种数据库相同），其余文件入库 / refused before the database and named "
     "(the same on both databases), the other files load", "—"),
    ("test_a_symlink_named_on_the_command_line_is_not_followed_out",
     "命令行上给出的符号链接指向所在文件夹之外 / a symlink named on the command line leads out of "
     "its folder",
     "拒收并说明，不读取目标 / refused with a message, the target not read", "—"),
    ("test_user_strings_are_printed_as_text_never_markup",
     "规划代号、文件名、时间、文件夹名、评定人与理由中含终端标记“[/x]”（9 个命令）/ '[/x]' "
     "(terminal markup) in plan ids, file names, times, folder names, a reviewer's name and "
     "reason (9 commands)",
     "原样显示为文本，没有堆栈；`review` 存入的正是显示的内容 / printed as text, no traceback; "
     "`review` stores exactly what it prints", "—"),
    ("test_review_texts_are_checked_before_storing_on_both_databases",
     "评定人姓名超过 100 字符或含控制字符 / a reviewer's name over 100 characters or with "
     "control characters",
     "入库前拒收、退出码 2，什么都不存（两种数据库相同）/ refused before storing, exit 2, nothing "
     "stored (the same on both databases)", "—"),
    ("test_render_workers_die_with_a_killed_run",
     "kill -9 正在渲染报告的运行 / kill -9 of a run whose workers render reports",
     "渲染子进程随之被内核终止（PR_SET_PDEATHSIG），不会事后替换或记录报告 / its render workers "
     "are ended by the kernel with it (PR_SET_PDEATHSIG): none replaces or records a report later",
     "—"),
    ("test_only_the_run_holding_the_lock_publishes",
     "旧运行的锁已被新运行接管后，旧运行的渲染仍要发布 / a render of a run whose lock a newer run "
     "has taken over",
     "防护令牌检查：不替换任何报告文件、不记录；持锁的运行正常发布 / the fencing check: no report "
     "file replaced, nothing recorded; the holder publishes", "—"),
    ("test_every_secret_a_url_can_carry_is_masked",
     "URL 中的各种秘密：?password=、sslpassword=、token=、client_secret=、api_key=、作为用户名的令牌、"
     "libpq 的 password= / every secret a URL can carry: ?password=, sslpassword=, token=, "
     "client_secret=, api_key=, a token as user, libpq password=",
     "消息与错误中一律显示为 *** / shown as *** in every message and error", "—"),
    ("test_log_records_are_masked_as_they_are_made",
     "Prefect 记录器的日志（消息、参数、堆栈文本）/ Prefect loggers' records (message, arguments, "
     "traceback text)",
     "生成时即屏蔽，终端与 Prefect 服务器都看不到秘密 / masked as made: neither the terminal nor "
     "Prefect's server sees a secret", "—"),
    ("test_prefect_keeps_no_secret_in_its_logs",
     "流程日志中含 ?password= 的 URL / a flow logging a URL with ?password=",
     "Prefect 服务器存下的日志已屏蔽 / the logs Prefect's server stored are masked", "—"),
    ("test_a_run_over_an_inbox_with_one_attack_file",
     "`healthplan run` 的收件夹中放入一个攻击文件：读取器崩溃的工作簿、非 UTF-8 文件名、过长路径、"
     "含“[/x]”的单元格、指向收件夹外的符号链接 / `healthplan run` over an inbox holding one attack "
     "file: a workbook that crashes the reader, a non-UTF-8 name, a too-long path, a cell holding "
     "'[/x]', a symlink out of the inbox",
     "报告照常生成，退出码符合约定（2 或 3），点名该文件，已存数据不变，运行记为完成，没有堆栈 / the "
     "report is rendered, the documented exit code (2 or 3), the file named, stored values "
     "unchanged, the run recorded as completed, no traceback", "—"),
    ("test_a_failure_inside_run_is_a_message_and_a_failed_run",
     "`run` 的某一步意外失败 / a step of `run` fails unexpectedly",
     "一条中文在前的信息（没有 Prefect 的堆栈）、退出码 1，运行记为失败 / one Chinese-first message "
     "(not even Prefect's traceback), exit 1, the run recorded as failed",
     "—"),
    ("test_a_killed_runs_record_is_closed_by_the_next_run",
     "被 kill -9 的运行无法记录结束 / a run killed with SIGKILL cannot record its end",
     "下一次运行取得锁后将其记为失败，不会永远“运行中” / the next run, holding the lock, marks it "
     "failed: never 'running' forever", "—"),
    ("test_serve_refuses_without_a_prefect_server",
     "没有 PREFECT_API_URL 时 `serve` / `serve` without PREFECT_API_URL",
     "拒绝启动并说明（除非 --temporary），运行历史不会随临时服务器消失 / refuses with a message "
     "(unless --temporary): no run history vanishes with a temporary server", "—"),
    ("test_backup_then_restore_reproduces_the_evaluation",
     "`db backup`，仓库随后被修改，再 `db restore` / `db backup`, the warehouse changes, then "
     "`db restore`",
     "各表行数与备份时相同 / every table's rows as at the backup",
     "按时点的评估给出完全相同的数字 / the as-of evaluation gives exactly the same numbers"),
]  # fmt: skip


def md(text: object) -> str:
    """Table-cell text: no pipes, no new lines, no HTML."""
    s = " ".join("".join(c for c in str(text) if c.isprintable() or c.isspace()).split())
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        s = s.replace(a, b)
    return s


def cut(text: str, limit: int = 190) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def measure_corpus() -> list[dict]:
    """Each input ingested into a fresh SQLite warehouse with the baseline, as measured."""
    from flows.ingest import ingest_paths, parse_context
    from healthplan.definitions import load_catalog
    from warehouse.observations import counts, observations_as_of

    tmp = Path(tempfile.mkdtemp(prefix="healthplan-reliability-"))
    plans = overlay_plans(tmp)
    context = parse_context(load_catalog(plans), plans / "sources")
    engine = prepare_warehouse(f"sqlite:///{(tmp / 'w.sqlite').as_posix()}", plans, context)
    out = []
    for e in entries():
        obs, before = observations_as_of(engine), counts(engine)
        started = time.perf_counter()
        summary = ingest_paths([e.path], engine=engine, context=context)
        seconds = time.perf_counter() - started
        [f] = summary.files
        after = counts(engine)
        same = observations_as_of(engine).equals(obs) and all(
            after[k] == before[k] for k in after if k not in ("source_file", "quarantine")
        )
        if f.rejects:
            shown = [f"第 {r.row} 行 row {r.row} {r.field or '（整行 whole row）'}: {r.reason}"
                     for r in f.rejects[:2]]  # fmt: skip
            message = "；".join(shown) + (f"（另 {len(f.rejects) - 2} 项 +{len(f.rejects) - 2} more）"
                                         if len(f.rejects) > 2 else "")  # fmt: skip
        else:
            message = next((m for m in f.messages), "—")
        out.append(
            {
                "entry": e,
                "exit": summary.exit_code,
                "status": f.status,
                "rejects": len(f.rejects),
                "message": message,
                "unchanged": bool(same),
                "expected": summary.exit_code == e.exit and len(f.rejects) == len(e.rejects),
                "seconds": seconds,
            }
        )
    return out


def run_tests() -> dict[str, list[tuple[str, str, float]]]:
    """pytest over tests/reliability: test name → [(parameters, outcome, seconds)]."""
    xml = Path(tempfile.mkdtemp()) / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider",
         f"--junitxml={xml}"],
        cwd=ROOT,
        check=False,
    )  # fmt: skip
    print(f"test results: {xml}")
    return read_results([xml])


def read_results(files: list[Path]) -> dict[str, list[tuple[str, str, float]]]:
    """Test name → [(parameters, outcome, seconds)] from JUnit XML files; a test case in a
    later file replaces the same case of an earlier one (a re-run of some tests)."""
    cases: dict[str, tuple[str, str, float]] = {}
    for xml in files:
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = case.get("name", "")
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                if case.find(tag) is not None:
                    outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
            cases[f"{case.get('classname', '')}::{name}"] = (
                name,
                outcome,
                float(case.get("time", 0)),
            )
    results: dict[str, list[tuple[str, str, float]]] = {}
    for name, outcome, seconds in cases.values():
        base, _, params = name.partition("[")
        results.setdefault(base, []).append((params.rstrip("]"), outcome, seconds))
    return results


def _unescaped(params: str) -> str:
    """pytest writes non-ASCII parameter ids escaped ('\\u536b…')."""
    return params.encode("ascii").decode("unicode_escape") if "\\u" in params else params


def verdict(results: dict, test: str, backend: str, entry_id: str) -> str:
    for params, outcome, _ in results.get(test, []):
        if _unescaped(params) == f"{backend}-{entry_id}":
            return "✓" if outcome == "passed" else ("—" if outcome == "skipped" else "✗ " + outcome)
    return "—"


def write(corpus: list[dict], results: dict | None) -> str:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    n = len(corpus)
    kept = sum(r["unchanged"] for r in corpus)
    as_expected = sum(r["expected"] for r in corpus)
    codes = Counter(r["exit"] for r in corpus)
    lines = [
        "# 可靠性：坏输入与故障 / Reliability: bad inputs and faults",
        "",
        "<!-- Generated by tests/reliability/make_report.py; do not edit by hand. -->",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on commit `{commit}`, SQLite and "
        "PostgreSQL 15. The inputs live in [`tests/corpus/`](../tests/corpus/) (written by "
        "`make_corpus.py`, described in `manifest.yaml`); the tests are in "
        "[`tests/reliability/`](../tests/reliability/).",
        "",
        "## Summary",
        "",
        f"- **{n} bad inputs tried**: {codes[0]} loaded (exit 0, with notes where something was "
        f"converted or ignored), {codes[3]} loaded with rows quarantined (exit 3), {codes[2]} "
        f"refused as unreadable (exit 2). {as_expected} of {n} gave the expected exit code and "
        f"quarantine; **{kept} of {n} left everything stored before exactly as it was** (only the "
        "file's registration and its quarantine rows are added).",
        f"- **{len(FAULTS)} faults and secret checks** (below): after each, nothing stored was "
        "lost or half-written and the next normal run succeeded.",
        "- Every message names the file, and for each rejected cell its row (as a spreadsheet "
        "shows it, header included) and column, and the reason in Chinese and English. No "
        "traceback reaches the user; a database password is shown as `***`.",
        "- The ingest contract: exit 0 everything loaded or already loaded, 3 some rows "
        "quarantined (the rest loaded), 2 some file unreadable (nothing of it stored but the "
        "reason), 4 warehouse unavailable.",
        "",
        "## Bad inputs",
        "",
        "Exit code and status as measured; *rejects* counts the quarantined cells; *unchanged*: "
        "the stored observations (every value and revision) and every table but the bookkeeping "
        "ones are as before. The SQLite / PostgreSQL columns are the test results on each "
        "database (⌨ = also run through the `healthplan ingest` command in a fresh process).",
        "",
        "| # | file | kind | what is wrong | exit | rejects | message (shortened) | unchanged "
        "| SQLite | PostgreSQL |",
        "| ---: | --- | --- | --- | --- | ---: | --- | :---: | :---: | :---: |",
    ]
    for i, r in enumerate(corpus, 1):
        e = r["entry"]
        checks = []
        for backend in ("sqlite", "postgresql"):
            if results is None:
                checks.append("not run")
                continue
            v = verdict(results, "test_bad_input_is_reported_and_changes_nothing", backend, e.id)
            cli = verdict(results, "test_the_command_gives_a_message_and_the_exit_code",
                          backend, e.id)  # fmt: skip
            checks.append(v + (" ⌨" + ("" if cli == "✓" else cli) if e.cli and cli != "—" else ""))
        name = e.given if e.is_path else Path(e.given).name
        lines.append(
            f"| {i} | `{md(name)}` | {md(e.group)} | {md(e.zh)} / {md(e.en)} | "
            f"{EXIT_TEXT[r['exit']]} | {r['rejects']} | {md(cut(r['message']))} | "
            f"{'✓' if r['unchanged'] else '✗'} | {checks[0]} | {checks[1]} |"
        )
    lines += [
        "",
        "## Faults",
        "",
        "| fault | what survived | the next run | result |",
        "| --- | --- | --- | --- |",
    ]
    for test, fault, survived, after in FAULTS:
        if results is None:
            result = "not run"
        else:
            runs = results.get(test, [])
            ok = [p for p, o, _ in runs if o == "passed"]
            bad = [f"{p or test}: {o}" for p, o, _ in runs if o not in ("passed", "skipped")]
            backends = sorted(
                {p.split("-")[0] for p in ok if p.split("-")[0] in ("sqlite", "postgresql")}
                or {"—"}
            )
            where = "" if backends == ["—"] else " (" + ", ".join(backends) + ")"
            seconds = sum(t for _, _, t in runs)
            result = ("✗ " + "; ".join(bad)) if bad else (
                f"✓ {len(ok)} run{'s' if len(ok) != 1 else ''}{where}, {seconds:.0f} s"
                if ok else "—")  # fmt: skip
        lines.append(f"| {md(fault)} | {md(survived)} | {md(after)} | {md(result)} |")
    lines += [
        "",
        "## What the tests check after every input and fault",
        "",
        "- `observations_as_of` (every key's value, revision, source file and time) is equal to "
        "the frame before; no table but `source_file` and `quarantine` changed its row count; the "
        "quarantine holds exactly the rejected cells, with file, row, field, value and reason.",
        "- Re-ingesting the same input changes nothing at all.",
        "- Warehouse invariants (`tests/reliability/helpers.py: assert_consistent`): no file "
        "left half-registered, every observation from a loaded file, each key's revisions 1…n "
        "with one current row and no gap in time, each evaluation set from one save, no pipeline "
        "lock left behind, and on SQLite a clean `integrity_check` and `foreign_key_check`.",
        "",
        "## Known limits",
        "",
        "- A quarantined facility row (unknown type or ownership, no facility id) is left out of "
        "its area's facility totals: the quarantine names it, but the totals of the other rows "
        "load (cells that fail inside a group hold the whole group's total back).",
        "- Parse and render workers end with their run through Linux's PR_SET_PDEATHSIG (and a "
        "parent-pid check); on another system only the fencing check keeps a stray worker from "
        "publishing. The fencing check runs before the report files are put in place and before "
        "each record, not inside the rename itself.",
        "- A file is never parsed in the process that saves it: each parse runs in a worker "
        "process (with HEALTHPLAN_WORKERS=1 one started per file, ≈ 40 ms each).",
        "- A render killed between writing a temporary file and renaming it leaves that hidden "
        "`.<name>.part` file in the reports folder (never taken for a report, not cleaned up "
        "later).",
        "- Shares (% and ‰) are not yet in any real source layout; the corpus tests them with a "
        "test-only layout (`tests/corpus/plans_overlay/`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    corpus = measure_corpus()
    if "--junit" in argv:  # reuse the results of pytest runs: --junit FILE [FILE…]
        results = read_results([Path(a) for a in argv[argv.index("--junit") + 1 :]])
    else:
        results = None if "--no-tests" in argv else run_tests()
    OUT.write_text(write(corpus, results), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(corpus)} inputs, {len(FAULTS)} faults")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
