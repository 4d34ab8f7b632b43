"""Real PostgreSQL for every test that needs one.

TEST_DATABASE_URL names a server to use (CI: the one on 127.0.0.1:5432); without it the suite starts
the embedded server in a temporary folder. A migrated template database is built once per run and
each test gets its own copy, so tests that commit (as the services do) cannot see each other.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from dashboard.database import create_db_engine
from db.migrate import load_migrations, migrate

REPO = Path(__file__).resolve().parent.parent
SEED_DIR = Path(os.environ.get("SEED_DIR", REPO.parent / "shared" / "seed"))
_names = itertools.count()
ALL_VERSIONS = [m.version for m in load_migrations()]


def url_for_database(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A maintenance URL (database postgres) on the server the tests use."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from db.embedded import start_embedded_server

    return start_embedded_server(tmp_path_factory.mktemp("embedded-pg"))


@pytest.fixture(scope="session")
def admin_engine(server_url: str) -> Iterator[Engine]:
    """Autocommit engine on the maintenance database, to create and drop test databases."""
    engine = create_db_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def template_database(admin_engine: Engine, server_url: str) -> Iterator[str]:
    name = f"dashboard_test_template_{os.getpid()}"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        conn.execute(sa.text(f'create database "{name}"'))
    engine = create_db_engine(url_for_database(server_url, name))
    migrate(engine)
    engine.dispose()
    yield name
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def _new_name() -> str:
    return f"dashboard_test_{os.getpid()}_{next(_names)}"


def _create(admin_engine: Engine, name: str, template: str | None) -> None:
    clause = f' template "{template}"' if template else ""
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"{clause}'))


def _drop(admin_engine: Engine, name: str) -> None:
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


class _Copies:
    """Copies of the template, each made one test ahead and dropped after its test, by one thread of their own.

    Making a copy took 0.4-0.6 s on a two-core machine, most of it waiting for the disk, and every test but the
    unit ones needs one: made while the test before runs, and dropped while the next one runs, a test waits for
    neither. Makes and drops run in order, one at a time, as the fixtures did them."""

    def __init__(self, admin_engine: Engine, template: str) -> None:
        self._admin, self._template = admin_engine, template
        self._work: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="test-database-copies", daemon=True)
        self._thread.start()
        self._next = self._make()

    def _run(self) -> None:
        while (job := self._work.get()) is not None:
            job()

    def _make(self) -> Future:
        made: Future = Future()
        name = _new_name()

        def make() -> None:
            try:
                _create(self._admin, name, self._template)
                made.set_result(name)
            except BaseException as exc:  # noqa: BLE001 — raised in the test that takes it
                made.set_exception(exc)

        self._work.put(make)
        return made

    def take(self) -> str:
        """A copy of the template of its own for this test; the next one is made meanwhile."""
        made, self._next = self._next, self._make()
        return made.result()

    def give_back(self, name: str) -> None:
        self._work.put(lambda: _drop(self._admin, name))

    def close(self) -> None:
        """Drop the copy made ahead and wait for every drop."""
        ahead = self._next
        self._work.put(lambda: ahead.exception() is None and _drop(self._admin, ahead.result()))
        self._work.put(None)
        self._thread.join()


@pytest.fixture(scope="session")
def _template_copies(admin_engine: Engine, template_database: str) -> Iterator[_Copies]:
    copies = _Copies(admin_engine, template_database)
    yield copies
    copies.close()


@contextmanager
def _throwaway_database(admin_engine: Engine, server_url: str, template: str | None) -> Iterator[str]:
    name = _new_name()
    _create(admin_engine, name, template)
    try:
        yield url_for_database(server_url, name)
    finally:
        _drop(admin_engine, name)


@pytest.fixture
def fresh_database(admin_engine: Engine, server_url: str) -> Iterator[str]:
    """URL of a new, empty database (not migrated), dropped after the test."""
    with _throwaway_database(admin_engine, server_url, None) as url:
        yield url


@pytest.fixture
def db_url(server_url: str, _template_copies: _Copies) -> Iterator[str]:
    """URL of a migrated database of this test's own, dropped after it."""
    name = _template_copies.take()
    try:
        yield url_for_database(server_url, name)
    finally:
        _template_copies.give_back(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on this test's migrated database, connected as the server's login role."""
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_periodic_usage_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold every minute in a background thread would change the backlog under tests that count it; the tests
    of that thread turn it back on."""
    from dashboard.services import usage_folding

    monkeypatch.setattr(usage_folding, "KEEP_FOLDED_SECONDS", None)


@pytest.fixture(autouse=True)
def _no_background_health_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report reads the past hours and days it lacks itself, not in a thread that would outlive the test's
    database; the tests of that thread turn it back on."""
    from dashboard.services import usage_spans

    monkeypatch.setattr(usage_spans, "READ_NOW_MAX", None)
    monkeypatch.setattr(usage_spans, "WARM_AFTER", 0.0)  # the tests of that thread do not wait for a page's run


# What a test costs, roughly, by tier (seconds on a two-core machine): what TEST_SHARD balances.
_TIER_SECONDS = {"browser": 6.0, "app": 1.0, "integration": 0.6, "unit": 0.01}


def deal(costs: dict[str, float], first: set[str], count: int) -> dict[str, int]:
    """Each file's share (0 to count-1): the files in first all in share 0, the others dealt out, costliest first, to
    the share with the least cost so far. The same files and costs always give the same shares."""
    loads, share = [0.0] * count, {}
    for path in sorted(costs, key=lambda p: (p not in first, -costs[p], p)):
        share[path] = 0 if path in first else min(range(count), key=lambda k: (loads[k], k))
        loads[share[path]] += costs[path]
    return share


@pytest.hookimpl(tryfirst=True)  # before -m deselects: every half must deal out the same files
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """TEST_SHARD=K/N keeps the K-th of N shares of the test files (0-based; deal() by _TIER_SECONDS, the browser
    tests in share 0). CI runs share 0 against the server and share 1 on the embedded PostgreSQL at the same time:
    each test runs once, and each database about half the suite."""
    shard = os.environ.get("TEST_SHARD")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    costs: dict[str, float] = {}
    browser: set[str] = set()
    for item in items:
        path = item.nodeid.split("::")[0]
        if item.get_closest_marker("browser"):
            browser.add(path)
        tier = "browser" if path in browser else path.split("/")[1]
        costs[path] = costs.get(path, 0.0) + _TIER_SECONDS.get(tier, 0.6)
    share = deal(costs, browser, count)
    kept = [item for item in items if share[item.nodeid.split("::")[0]] == index]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if share[item.nodeid.split("::")[0]] != index])
        items[:] = kept
