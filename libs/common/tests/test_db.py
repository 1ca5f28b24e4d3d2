"""Hot statements on the driver's own connection: same rows, same pool, broken ones dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Integer, bindparam, literal_column, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db.engine import create_db_engine
from common.db.query import Query, driver_connection
from common.errors import install_error_handlers, is_store_outage

pytestmark = pytest.mark.anyio

BACKEND_PID = Query(select(literal_column("pg_backend_pid()")))


@pytest.fixture
def database_url(require_postgres: None, make_database: Callable[[str], str]) -> str:
    return make_database("db")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_db_engine(database_url, pool_size=1)
    yield engine
    await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    row = await BACKEND_PID.first(engine)
    assert row is not None
    return int(row[0])


async def test_a_query_answers_rows_by_position_with_its_parameters_bound_by_name(
    engine: AsyncEngine,
) -> None:
    query = Query(
        select(
            bindparam("a", type_=Integer) + bindparam("b", type_=Integer),
            bindparam("a", type_=Integer),
        )
    )

    assert [tuple(row) for row in await query.all(engine, b=2, a=40)] == [(42, 40)]
    assert await Query(select(literal_column("1")).where(text("false"))).first(engine) is None


async def test_a_query_runs_through_sqlalchemy_on_sqlite(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/q.db")
    try:
        query = Query(select(bindparam("a", type_=Integer) * 2))
        assert [tuple(row) for row in await query.all(engine, a=21)] == [(42,)]
    finally:
        await engine.dispose()


async def test_an_error_from_postgresql_keeps_the_connection(engine: AsyncEngine) -> None:
    before = await backend_pid(engine)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await Query(select(literal_column("1 / 0"))).all(engine)

    assert await backend_pid(engine) == before


async def test_a_statement_cut_short_closes_its_connection_and_the_pool_opens_a_new_one(
    engine: AsyncEngine,
) -> None:
    before = await backend_pid(engine)
    slow = asyncio.create_task(Query(select(literal_column("pg_sleep(30)"))).all(engine))
    await asyncio.sleep(0.3)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow

    # One connection in the pool: the next statement gets a new one, in a clean state.
    assert await backend_pid(engine) != before
    async with driver_connection(engine) as connection:
        assert not connection.is_in_transaction()


async def test_a_connection_closed_by_the_server_is_not_handed_out_again(
    engine: AsyncEngine, database_url: str
) -> None:
    killed = await backend_pid(engine)
    url = make_url(database_url)
    other = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        await other.execute("SELECT pg_terminate_backend($1)", killed)
    finally:
        await other.close()
    await asyncio.sleep(0.2)

    assert await backend_pid(engine) != killed


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.DivisionByZeroError("division by zero"), False),
    ],
)
def test_asyncpg_errors_are_outages_by_their_sqlstate(error: Exception, outage: bool) -> None:
    assert is_store_outage(error) is outage


def test_an_outage_on_a_hot_statement_is_503_and_a_bug_is_500() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/canceled")
    async def canceled() -> None:
        raise asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")

    @app.get("/bug")
    async def bug() -> None:
        raise asyncpg.exceptions.UndefinedColumnError('column "nope" does not exist')

    client = TestClient(app, raise_server_exceptions=False)
    outage = client.get("/canceled")
    assert outage.status_code == 503
    assert outage.json()["code"] == "service_unavailable"
    assert outage.headers["Retry-After"]
    bug_answer = client.get("/bug")
    assert bug_answer.status_code == 500
    assert bug_answer.json() == {"detail": "Internal server error.", "code": "internal_error"}
