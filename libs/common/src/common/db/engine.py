"""Async engines and their pools: bounded waits on PostgreSQL, one writer at a time on SQLite.

`transaction` is the unit every write runs in; `ping` is the readiness check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from common.db.urls import async_url, is_sqlite

# A request that cannot get a pooled connection within this is answered 503, not queued on.
POOL_TIMEOUT_SECONDS = 3.0
CONNECT_TIMEOUT_SECONDS = 5.0
# The order of the timeouts matters. PostgreSQL ends a statement after STATEMENT_TIMEOUT, the
# driver gives up on an unanswered one after COMMAND_TIMEOUT, and the gateway waits 5 s for a
# service (proxy_read_timeout): a write the client was told failed has been rolled back.
STATEMENT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 4.0
# The server drops the connection of a client that vanished (and releases its locks) after
# about idle + interval * count seconds.
_SERVER_SETTINGS = {
    "statement_timeout": str(int(STATEMENT_TIMEOUT_SECONDS * 1000)),
    "idle_in_transaction_session_timeout": str(int(STATEMENT_TIMEOUT_SECONDS * 1000)),
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}


def create_db_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(async_url(url), connect_args={"timeout": 30})
        _serialize_sqlite_writes(engine)
        return engine
    # A fixed pool: overflow connections would be opened and closed again under every burst;
    # requests beyond pool_size wait briefly for one of the pool's instead.
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_recycle=1800,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": COMMAND_TIMEOUT_SECONDS,
            "server_settings": _SERVER_SETTINGS,
        },
    )
    _skip_closed_connections(engine)
    return engine


def _skip_closed_connections(engine: AsyncEngine) -> None:
    """Hand out no pooled connection that PostgreSQL has closed (a restart, a crash).

    Without this the first request on each such connection fails with 503. asyncpg knows a
    connection is closed as soon as the server hangs up, so asking it costs no round trip,
    unlike a pre-ping (measured: 15 % of a profile rebuild in referral). The pool replaces a
    connection refused here with a new one.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")


def _serialize_sqlite_writes(engine: AsyncEngine) -> None:
    """Make every SQLite transaction take the write lock up front (BEGIN IMMEDIATE).

    pysqlite otherwise starts transactions lazily, so two read-then-write transactions could
    interleave; with this they run one after the other, as PostgreSQL's locks make them on
    the services.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in one transaction: committed when the block ends, rolled back on an error."""
    async with engine.begin() as connection:
        yield connection


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
