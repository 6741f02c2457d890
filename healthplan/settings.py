"""One typed settings object, read from the environment (HEALTHPLAN_*) and an optional .env file."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count, in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Everything the pipeline reads from its environment; the defaults run a fresh clone as is."""

    model_config = SettingsConfigDict(env_prefix="HEALTHPLAN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=REPO_ROOT / "data", description="warehouse file, quarantine, state"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite file"
    )
    plans_dir: Path = Field(default=REPO_ROOT / "plans", description="plan definitions as data")
    inbox_dir: Path = Field(default=REPO_ROOT / "samples" / "inbox", description="files to ingest")
    reports_dir: Path = Field(
        default=REPO_ROOT / "reports", description="where reports are written"
    )
    issuing_body: str | None = Field(default=None, description="overrides the plan's issuing body")
    # evaluation thresholds (spec defaults)
    about_tolerance: float = 0.02
    on_schedule_rho: float = 0.95
    needs_speedup_rho: float = 0.60
    nearly_done_p: float = 0.90
    # orchestration
    workers: int = Field(
        default_factory=usable_cpus,
        ge=1,
        description="processes that parse files while ingesting and render reports; 1 = one "
        "at a time (each file still parsed in a guarded worker process)",
    )
    parse_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="address-space limit of each parse worker process, MB (0 = no limit, at "
        "least 512): a file that makes the reader run away fails alone instead of taking the "
        "run down",
    )
    task_runner: str = Field(default="thread", description="'thread' or 'dask'")
    dask_address: str | None = None
    nightly_cron: str = "0 2 * * *"
    mid_term_cron: str = "0 3 1 7 *"
    end_term_cron: str = "0 3 15 7 *"
    timezone: str = "Asia/Shanghai"
    # mail
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "healthplan@localhost"
    mail_to: list[str] = Field(default_factory=list)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite warehouse inside the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'warehouse.sqlite').as_posix()}"


_URL = re.compile(r"[A-Za-z][\w+.-]*://\S+")
# a query parameter or key=value pair whose name says it holds a secret (password=, passwd=,
# pwd=, sslpassword=, token=, access_token=, secret=, client_secret=, key=, api_key=, …)
_SECRET_NAME = r"[\w.-]*(?:password|passwd|pwd|passphrase|token|secret|key|credential)[\w.-]*"
_SECRET_PARAM = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&;#\s]*")
_SECRET_PAIR = re.compile(
    rf"(?i)(?<![\w.-])({_SECRET_NAME}\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,;&)]+)"
)


_DATABASE_SCHEME = re.compile(r"(?i)(postgres|mysql|mariadb|sqlite|oracle|mssql|cockroach)")


def _mask_one(url: str) -> str:
    url = _SECRET_PARAM.sub(lambda m: m.group(1) + "***", url)
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    if at < 0:
        return url
    colon = rest.find(":")
    if 0 <= colon < at:
        return f"{scheme}://{rest[:colon]}:***{rest[at:]}"
    if "/" in rest[:at] or "?" in rest[:at]:  # the '@' is in the path or query, not userinfo
        return url
    if _DATABASE_SCHEME.match(scheme):  # a database user name alone is no secret
        return url
    return f"{scheme}://***{rest[at:]}"  # a bare userinfo elsewhere is often a token


def masked_url(text: str) -> str:
    """Text with every secret a URL can carry replaced by ***, for every message a user or log
    sees: the userinfo's password (also with an empty user name or an unencoded '@' inside), a
    bare token as userinfo, and query parameters named like a secret (``?password=``,
    ``sslpassword=``, ``token=``, ``secret=``, ``key=``…); also ``password=…`` pairs outside
    URLs (libpq connection strings)."""
    text = _URL.sub(lambda m: _mask_one(m.group(0)), text)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + "***", text)


def _masking_record_factory(base):
    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
            shown = masked_url(message)
            if shown != message:
                record.msg, record.args = shown, ()
            if record.exc_info and not record.exc_text:
                import logging

                record.exc_text = masked_url(logging.Formatter().formatException(record.exc_info))
        except Exception:  # noqa: BLE001, S110 - a log record is never lost over its masking
            pass
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    return factory


def mask_secrets_in_logs() -> None:
    """Every log record of this process, Prefect's included (its console and the records it
    sends to its server), has its URL secrets masked as it is made (idempotent)."""
    import logging

    base = logging.getLogRecordFactory()
    if not getattr(base, "masks_secrets", False):
        logging.setLogRecordFactory(_masking_record_factory(base))


@lru_cache
def get_settings() -> Settings:
    return Settings()


def console(stderr: bool = False):
    """A rich console; wide when not on a terminal, so cron logs keep file names on one line.
    Text that is not valid markup (a user's ``[/x]``) is printed as it is, never raised: every
    caller escapes the user strings it knows of, and this catches the ones it does not."""
    import sys

    from rich.console import Console
    from rich.errors import MarkupError

    class TextSafeConsole(Console):
        def render_str(self, text, **kwargs):  # type: ignore[override]
            for _ in range(50):
                try:
                    return super().render_str(text, **kwargs)
                except MarkupError as e:  # escape the tag that closes nothing, keep the rest
                    at = re.search(r"at position (\d+)", str(e))
                    if at is None:
                        break
                    text = f"{text[: int(at.group(1))]}\\{text[int(at.group(1)) :]}"
            return super().render_str(text, **{**kwargs, "markup": False})

    stream = sys.stderr if stderr else sys.stdout
    return TextSafeConsole(stderr=stderr, width=None if stream.isatty() else 200)
