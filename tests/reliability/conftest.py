"""Fixtures of the reliability tests: the corpus plans and warehouses holding its baseline."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import overlay_plans, prepare_warehouse

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def corpus_plans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real plans folder plus the corpus's test-only share layout."""
    return overlay_plans(tmp_path_factory.mktemp("corpus_plans"))


@pytest.fixture(scope="session")
def corpus_context(corpus_plans: Path) -> Any:
    from flows.ingest import parse_context
    from healthplan.definitions import load_catalog

    return parse_context(load_catalog(corpus_plans), corpus_plans / "sources")


@dataclass
class Warehouse:
    """A warehouse holding the corpus baseline, with what a CLI run needs to reach it."""

    backend: str
    url: str
    engine: Any
    folder: Path  # its data folder (and the SQLite file, for SQLite)


def _database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A fresh, empty database for a whole module: SQLite, or one on the session's PostgreSQL."""
    from warehouse.engine import dispose_engine

    if request.param == "sqlite":
        url = f"sqlite:///{(folder / 'warehouse.sqlite').as_posix()}"
        yield url
        dispose_engine(url)
        return
    from tests.conftest import _admin

    server = request.getfixturevalue("postgres_server")
    name = f"reliab_{os.getpid()}_{next(_counter)}"
    _admin(server, f"CREATE DATABASE {name}")
    url = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        dispose_engine(url)
        _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def corpus_warehouse(
    request, tmp_path_factory, corpus_plans, corpus_context
) -> Iterator[Warehouse]:
    """A warehouse with the baseline loaded, shared by a module's tests (on each database).

    Sharing is sound because every corpus input must leave the stored data as it was: a test
    that changed it would fail itself, and the next one compares with its own snapshot.
    """
    folder = tmp_path_factory.mktemp(f"wh_{request.param}")
    for url in _database(request, folder):
        engine = prepare_warehouse(url, corpus_plans, corpus_context)
        yield Warehouse(request.param, url, engine, folder)


@pytest.fixture(scope="module", params=BACKENDS)
def cli_warehouse(request, tmp_path_factory, corpus_plans, corpus_context) -> Iterator[Warehouse]:
    """Another one for the CLI runs: a file ingested once is skipped (same checksum) later."""
    folder = tmp_path_factory.mktemp(f"cli_{request.param}")
    for url in _database(request, folder):
        engine = prepare_warehouse(url, corpus_plans, corpus_context)
        yield Warehouse(request.param, url, engine, folder)
