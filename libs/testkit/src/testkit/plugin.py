"""Pytest fixtures every suite shares: fresh databases, a clean Redis, servers in subprocesses.

With REQUIRE_SERVICES=1 (CI) the suite runs on the real PostgreSQL and Redis, and a test that
would be skipped fails instead. Without it, a laptop with neither runs on SQLite and fakeredis.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from common.redis import redis_from_url

STRICT = os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def _postgres_available() -> bool:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _redis_available() -> bool:
    try:
        return bool(redis_from_url(REDIS_URL).ping())
    except Exception:
        return False


HAVE_POSTGRES = _postgres_available()
HAVE_REDIS = _redis_available()


def _stores_line() -> str:
    pg = "PostgreSQL" if HAVE_POSTGRES else "SQLite (no PostgreSQL found)"
    rd = "Redis" if HAVE_REDIS else "fakeredis (no Redis found)"
    mode = "strict: skips fail" if STRICT else "lenient: tests that need the real ones skip"
    return f"stores: {pg} + {rd}; {mode}"


def pytest_report_header() -> str:
    return _stores_line()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Also at the end, where it survives -q.
    terminalreporter.write_line(_stores_line())


def pytest_sessionstart(session: pytest.Session) -> None:
    if STRICT and not (HAVE_POSTGRES and HAVE_REDIS):
        missing = [n for n, ok in (("PostgreSQL", HAVE_POSTGRES), ("Redis", HAVE_REDIS)) if not ok]
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but {' and '.join(missing)} not reachable")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (REQUIRE_SERVICES=1): {report.longrepr}"


@pytest.fixture
def require_postgres() -> None:
    """For tests whose point is PostgreSQL's behaviour (locks, concurrency)."""
    if not HAVE_POSTGRES:
        pytest.skip("needs PostgreSQL")


def create_test_database(prefix: str, *, sqlite_dir: Path) -> str:
    """A new empty database: on PostgreSQL when there is one, else a SQLite file."""
    if not HAVE_POSTGRES:
        return f"sqlite:///{sqlite_dir / f'{prefix}-{uuid.uuid4().hex[:8]}.db'}"
    name = f"t_{prefix}_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_test_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        _admin_execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Call with a short prefix; get the URL of a new empty database, dropped after the test."""
    created: list[str] = []

    def make(prefix: str) -> str:
        created.append(create_test_database(prefix, sqlite_dir=tmp_path))
        return created[-1]

    yield make
    for url in created:
        drop_test_database(url)


def _admin_execute(statement: str) -> None:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def clean_redis_url() -> str:
    """A Redis with nothing in it: the test database of the real server, else a fresh fakeredis."""
    if not HAVE_REDIS:
        return f"memory://test-{uuid.uuid4().hex}"
    redis_from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    return clean_redis_url()


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nobody listens on, never one this process handed out before: a port is only
    taken when its server binds it, so two calls before that could otherwise get the same."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright (never a downloaded browser): one for the whole
    run, since Playwright's sync API runs once per thread."""
    if not CHROMIUM.exists():
        pytest.skip("needs Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
