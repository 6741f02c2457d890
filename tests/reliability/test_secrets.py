"""Secrets come only from the environment: none in the code, and a database password never in
what a user, a log or the warehouse sees (masked as *** in every message)."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.helpers import ROOT, cli_env, run_cli

# Passwords the tests use on purpose, to prove they are masked. Any other credential-looking
# text in the repository fails test_no_credentials_in_the_repository.
FAKE_TEST_SECRETS = {"hunter22", "sk-live-0123456789", "S3cret-pw", "p", "pw", "s3cret-Pa55", "Tr0ub4dor-3", "Kx9-plain-Pw",
                     "Kx9%40esc%2Fped", "Kx9-nouser", "Kx9-server-Pw", "Kx9-malformed",
                     "Kx9-working-Pw", "Kx9-query-Pw", "Kx9-sslpass", "Kx9-token",
                     "Kx9-logged-Pw", "Kx9 query"}  # fmt: skip
PLACEHOLDER = re.compile(r"^(CHANGE_ME|\*+|\{[^}]*\}|\$\{?\w+\}?|<[^>]+>|%\(\w+\)s|\.\.\.)$")
URL_PASSWORD = re.compile(r"\b[a-zA-Z][\w+.-]{0,30}://[^\s:/@'\"]{0,100}:([^\s@'\"/]{1,200})@")
ASSIGNED = re.compile(
    r"(?i)\b\w{0,40}(password|passwd|pwd|secret|token|api_?key)\w{0,40}\s*[:=]\s*"
    r"['\"]([^'\"\n]{4,200})['\"]"
)
KEY_MATERIAL = re.compile(
    r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}"
)


def _repository_files() -> list[Path]:
    """Tracked files and new ones not ignored (what a commit would hold)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary (XLSX, UTF-16 corpus files)
    return data.decode("utf-8", errors="ignore")


def test_no_credentials_in_the_repository():
    found = []
    files = _repository_files()
    assert len(files) > 50
    for path in files:
        text = _text(path)
        if text is None:
            continue
        rel = path.relative_to(ROOT).as_posix()
        in_tests = rel.startswith("tests/")
        for m in URL_PASSWORD.finditer(text):
            password = m.group(1)
            if PLACEHOLDER.match(password) or (in_tests and password in FAKE_TEST_SECRETS):
                continue
            found.append(f"{rel}: a password in a URL: {m.group(0)}")
        for m in ASSIGNED.finditer(text):
            value = m.group(2)
            if PLACEHOLDER.match(value) or (in_tests and value in FAKE_TEST_SECRETS):
                continue
            found.append(f"{rel}: a {m.group(1)} in the code: {m.group(0)}")
        found += [f"{rel}: key material: {m.group(0)[:24]}…" for m in KEY_MATERIAL.finditer(text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "text, caught",
    [
        ("url = 'postgresql+psycopg://hp:hunter22@db:5432/hp'", True),
        ("HEALTHPLAN_DATABASE_URL=postgresql://hp:CHANGE_ME@127.0.0.1/hp", False),
        ("shown as postgresql://hp:***@127.0.0.1/hp", False),
        ('url = f"postgresql://hp:{password}@{host}/hp"', False),
        ('smtp_password = "hunter22"', True),
        ("API_KEY: 'sk-live-0123456789'", True),
        ("aws = AKIA" + "IOSFODNN7EXAMPLE", True),  # split: this file must not hold one
        ("-----BEGIN OPENSSH " + "PRIVATE KEY-----", True),
        ("password = os.environ['HEALTHPLAN_SMTP_PASSWORD']", False),
    ],
)
def test_the_patterns_catch_credentials(text, caught):
    hits = [m.group(1) for m in URL_PASSWORD.finditer(text) if not PLACEHOLDER.match(m.group(1))]
    hits += [m.group(2) for m in ASSIGNED.finditer(text) if not PLACEHOLDER.match(m.group(2))]
    hits += [m.group(0) for m in KEY_MATERIAL.finditer(text)]
    assert bool(hits) == caught, hits


def test_no_env_file_is_committed_and_defaults_hold_no_secret(monkeypatch):
    tracked = subprocess.run(
        ["git", "ls-files", "--cached"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [p for p in tracked if Path(p).name == ".env"]
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    from healthplan.settings import Settings

    for key in ("HEALTHPLAN_DATABASE_URL", "HEALTHPLAN_SMTP_PASSWORD", "HEALTHPLAN_SMTP_USER"):
        monkeypatch.delenv(key, raising=False)
    s = Settings(_env_file=None)
    assert s.database_url is None and s.smtp_password is None and s.smtp_user is None
    assert s.effective_database_url.startswith("sqlite:///")


# ------------------------------------------------------------------------------------ masking


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _urls(server: str | None) -> dict[str, tuple[str, list[str]]]:
    """Database URLs with a password, each with the texts that must never be shown."""
    port = _closed_port()
    urls = {
        "plain": (f"postgresql+psycopg://healthplan:Kx9-plain-Pw@127.0.0.1:{port}/hp",
                  ["Kx9-plain-Pw"]),
        "escaped": (f"postgresql://hp:Kx9%40esc%2Fped@127.0.0.1:{port}/hp",
                    ["Kx9%40esc%2Fped", "Kx9@esc/ped"]),
        "no user": (f"postgresql+psycopg://:Kx9-nouser@127.0.0.1:{port}/hp", ["Kx9-nouser"]),
        "query": (f"postgresql+psycopg://hp@127.0.0.1:{port}/hp?password=Kx9-query-Pw",
                  ["Kx9-query-Pw"]),
        "ssl query": (f"postgresql://hp@127.0.0.1:{port}/hp?sslmode=prefer&sslpassword=Kx9-sslpass"
                      "&application_name=hp", ["Kx9-sslpass"]),
    }  # fmt: skip
    if server:  # a server that answers, and a database it does not have
        base = server.rsplit("/", 1)[0].replace("postgres@", "postgres:Kx9-server-Pw@")
        urls["server up"] = (base + "/no_such_database", ["Kx9-server-Pw"])
        query = server.rsplit("/", 1)[0] + "/no_such_database?password=Kx9-query-Pw"
        urls["server up, query"] = (query, ["Kx9-query-Pw"])
    return urls


@pytest.mark.integration
def test_db_upgrade_failures_never_show_the_password(tmp_path, postgres_server):
    """`healthplan db upgrade` against warehouses it cannot use: a message naming the masked URL
    and exit 4; the password appears nowhere in the output (all runs at once: each one retries
    for 3.5 s)."""
    urls = _urls(postgres_server)
    procs = {}
    for name, (url, _) in urls.items():
        env = cli_env(url, tmp_path / name / "data", ROOT / "plans", tmp_path / name / "reports")
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", "from flows.cli import main; main()", "db", "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        secrets = urls[name][1]
        assert proc.returncode == 4, (name, out)
        assert "warehouse unavailable" in out and "***" in out, (name, out)
        assert "Traceback" not in out
        for secret in secrets:
            assert secret not in out, (name, out)


def test_engine_retries_log_no_password(caplog):
    from warehouse.engine import WarehouseUnavailable, get_engine

    for name, (url, secrets) in _urls(None).items():
        caplog.clear()
        with (
            caplog.at_level(logging.WARNING, logger="healthplan.warehouse"),
            pytest.raises(WarehouseUnavailable) as info,
        ):
            get_engine(url, attempts=3, backoff=0.01)
        retries = [r for r in caplog.records if r.name == "healthplan.warehouse"]
        assert len(retries) == 2, name  # attempts 1 and 2 were retried; the 3rd raised
        assert all("***" in r.getMessage() for r in retries), name
        shown = caplog.text + str(info.value) + repr(info.value) + info.value.url
        for secret in secrets:
            assert secret not in shown, (name, shown)


def test_a_malformed_url_is_masked_too():
    from warehouse.engine import get_engine

    with pytest.raises(ValueError) as info:
        get_engine("postgresql+psycopg://hp:Kx9-malformed@127.0.0.1:notaport/hp")
    assert "Kx9-malformed" not in str(info.value) and "***" in str(info.value)


@pytest.mark.integration
def test_a_working_run_keeps_the_password_out_of_output_logs_and_the_warehouse(
    tmp_path, postgres_url
):
    """A password in the URL of a warehouse that accepts it (the test server trusts any): the
    commands print the URL masked, and no table, log or file the run writes holds it."""
    from warehouse.engine import get_engine

    secret = "Kx9-working-Pw"
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")
    env = cli_env(url, tmp_path / "data", ROOT / "plans", tmp_path / "reports")
    outputs = []
    for args in (
        ["db", "upgrade"],
        ["ingest", str(ROOT / "tests" / "corpus" / "baseline" / "mch_longhu_2019.csv")],
    ):
        code, out = run_cli(args, env)
        assert code == 0, out
        outputs.append(out)
    assert "postgres:***@" in outputs[0] and secret not in "".join(outputs)

    engine = get_engine(postgres_url)
    with engine.connect() as conn:
        names = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).scalars()
        for name in names:
            rows = conn.exec_driver_sql(f'SELECT * FROM "{name}"').all()
            assert secret not in repr(rows), name
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(secret.encode() not in p.read_bytes() for p in written)


@pytest.mark.parametrize(
    "text, secret",
    [
        ("postgresql://hp@db/hp?password=Kx9-query-Pw", "Kx9-query-Pw"),
        ("postgresql://hp@db/hp?sslmode=require&sslpassword=Kx9-sslpass", "Kx9-sslpass"),
        ("postgresql://db/hp?PASSWD=Kx9-query-Pw&x=1", "Kx9-query-Pw"),
        ("https://api.example/hook?token=Kx9-token", "Kx9-token"),
        ("https://api.example/x?client_secret=Kx9-token;api_key=Kx9-sslpass", "Kx9-token"),
        ("https://api.example/x?client_secret=Kx9-token;api_key=Kx9-sslpass", "Kx9-sslpass"),
        ("https://Kx9-token@git.example/repo", "Kx9-token"),
        ("failed: host=db password=Kx9-query-Pw user=hp", "Kx9-query-Pw"),
        ("failed: host=db password='Kx9 query' user=hp", "Kx9 query"),
    ],
)
def test_every_secret_a_url_can_carry_is_masked(text, secret):
    from healthplan.settings import masked_url
    from warehouse.engine import WarehouseUnavailable, safe_url

    assert secret not in masked_url(text) and "***" in masked_url(text)
    assert secret not in safe_url(text)
    if text.startswith("postgresql"):
        assert secret not in str(WarehouseUnavailable(text, f"said {secret}", 1))


def test_a_database_user_name_alone_is_kept():
    from healthplan.settings import masked_url

    assert masked_url("postgresql://hp@db/hp") == "postgresql://hp@db/hp"


def test_log_records_are_masked_as_they_are_made(caplog):
    """Every log record of the process, a Prefect logger's included: its message, arguments
    and traceback text hold no URL secret (what Prefect prints and sends to its server)."""
    import flows.common  # noqa: F401 - installs the masking

    url = "postgresql://hp@db/hp?password=Kx9-logged-Pw"
    with caplog.at_level(logging.WARNING):
        logging.getLogger("prefect.flow_runs").warning("connecting to %s", url)
        logging.getLogger("healthplan.anything").warning(f"retry {url}")
        try:
            raise RuntimeError(f"cannot reach {url}")
        except RuntimeError:
            logging.getLogger("prefect.task_runs").exception("failed")
    records = [r for r in caplog.records if r.name in ("prefect.flow_runs", "healthplan.anything",
                                                       "prefect.task_runs")]  # fmt: skip
    assert len(records) == 3
    for r in records:
        assert "Kx9-logged-Pw" not in r.getMessage() + (r.exc_text or "")
    assert all("password=***" in r.getMessage() for r in records[:2])
    assert "password=***" in records[2].exc_text
    assert "Kx9-logged-Pw" not in caplog.text


@pytest.mark.integration
def test_prefect_keeps_no_secret_in_its_logs(prefect_harness):
    """A flow whose logs name a URL with ?password=: the records Prefect's server stored hold
    it masked."""
    import asyncio

    from prefect import flow, get_run_logger
    from prefect.client.orchestration import get_client

    import flows.common  # noqa: F401 - installs the masking

    @flow(name="secret-log-probe")
    def probe() -> str:
        get_run_logger().warning(
            "warehouse at postgresql://hp@127.0.0.1/hp?password=Kx9-logged-Pw is slow"
        )
        from prefect.runtime import flow_run

        return flow_run.get_id()

    run_id = probe()

    async def logs() -> list[str]:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        async with get_client() as client:
            for _ in range(50):
                found = await client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
                )
                messages = [x.message for x in found]
                if any("warehouse at" in m for m in messages):
                    return messages
                await asyncio.sleep(0.2)
        return []

    messages = asyncio.run(logs())
    stored = [m for m in messages if "warehouse at" in m]
    assert stored and all("Kx9-logged-Pw" not in m and "password=***" in m for m in stored)
