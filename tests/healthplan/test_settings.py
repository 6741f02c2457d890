"""Typed settings: the ingest's parse workers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from healthplan.settings import Settings, usable_cpus


def test_workers_default_to_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.delenv("HEALTHPLAN_WORKERS", raising=False)
    assert Settings(_env_file=None).workers == usable_cpus() >= 1


def test_workers_come_from_the_environment_and_are_at_least_one(monkeypatch):
    monkeypatch.setenv("HEALTHPLAN_WORKERS", "1")
    assert Settings(_env_file=None).workers == 1
    monkeypatch.setenv("HEALTHPLAN_WORKERS", "0")
    with pytest.raises(ValidationError, match="workers"):
        Settings(_env_file=None)
