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
        description="address-space limit of each parse worker process, MB (0 = no limit): a "
        "file that makes the reader run away fails alone instead of taking the run down",
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


def _mask_one(url: str) -> str:
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    colon = rest.find(":")
    if at < 0 or colon < 0 or colon > at:
        return url
    return f"{scheme}://{rest[:colon]}:***{rest[at:]}"


def masked_url(text: str) -> str:
    """Text with the password of every URL in it replaced, for every message a user or log sees.

    Handles an empty user name (`://:pw@host`) and an unencoded '@' inside the password.
    """
    return _URL.sub(lambda m: _mask_one(m.group(0)), text)


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
            try:
                return super().render_str(text, **kwargs)
            except MarkupError:
                return super().render_str(text, **{**kwargs, "markup": False})

    stream = sys.stderr if stderr else sys.stdout
    return TextSafeConsole(stderr=stderr, width=None if stream.isatty() else 200)
