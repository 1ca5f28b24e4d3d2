"""user.registered through the outbox: written with the registration and only with it, then
delivered, signed, to WEBHOOK_URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError

from auth_service import repository
from auth_service.main import MIGRATIONS
from auth_service.models import WEBHOOK_OUTBOX
from common import outbox
from common.db.engine import create_db_engine
from common.db.urls import sync_url
from common.migrations import run_migrations
from testkit.webhook_receiver import WebhookReceiver, new_secret

SECRET = new_secret()
PHONE = "9991234567"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def events(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    WEBHOOK_OUTBOX.c.event_type, WEBHOOK_OUTBOX.c.data, WEBHOOK_OUTBOX.c.message_id
                )
            ).all()
    finally:
        engine.dispose()
    return [{"type": t, "data": json.loads(d), "id": m} for t, d, m in rows]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(
    request: pytest.FixtureRequest, make_database: Callable[[str], str], tmp_path: Any
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    return make_database("auth")


def test_a_registration_writes_one_event_and_a_repeat_sign_in_none(
    make_client: Callable[..., TestClient], flow_for: Callable[[TestClient], Any], database_url: str
) -> None:
    client = make_client(
        auth_database_url=database_url,
        webhook_url="http://127.0.0.1:9/unused",
        webhook_secret=SECRET,
        webhook_delivery="worker",
    )
    flow = flow_for(client)
    user = flow.sign_in(PHONE)["user"]
    flow.sign_in(PHONE)

    (event,) = events(database_url)
    assert event["type"] == "user.registered"
    assert event["id"].startswith("msg_")
    assert set(event["data"]) == {"id", "phone", "created_at"}
    assert event["data"]["id"] == user["id"]
    assert event["data"]["phone"] == PHONE
    created = datetime.fromisoformat(event["data"]["created_at"])
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_without_webhooks_no_event_is_written(
    make_client: Callable[..., TestClient], flow_for: Callable[[TestClient], Any], database_url: str
) -> None:
    flow_for(make_client(auth_database_url=database_url)).sign_in(PHONE)

    assert events(database_url) == []


def test_a_failed_registration_writes_no_event(database_url: str) -> None:
    """The user and its event are one transaction: a refused insert leaves neither."""

    async def run() -> None:
        run_migrations(script_location=MIGRATIONS, url=database_url)
        engine = create_db_engine(database_url)
        outbox.attach(engine, outbox.Outbox(WEBHOOK_OUTBOX, ["user.registered"]))
        try:
            with pytest.raises((IntegrityError, asyncpg.IntegrityConstraintViolationError)):
                await repository.record_sign_in(engine, phone="12345")  # phone_length check
            await repository.record_sign_in(engine, phone=PHONE)
        finally:
            await engine.dispose()

    asyncio.run(run())

    assert [event["data"]["phone"] for event in events(database_url)] == [PHONE]


def test_concurrent_first_sign_ins_of_one_phone_write_one_event(
    require_postgres: None, make_database: Callable[[str], str]
) -> None:
    url = make_database("auth")

    async def run() -> list[repository.SignIn]:
        run_migrations(script_location=MIGRATIONS, url=url)
        engine = create_db_engine(url, pool_size=20)
        outbox.attach(engine, outbox.Outbox(WEBHOOK_OUTBOX, ["user.registered"]))
        try:
            return await asyncio.gather(
                *(repository.record_sign_in(engine, phone=PHONE) for _ in range(40))
            )
        finally:
            await engine.dispose()

    sign_ins = asyncio.run(run())

    assert sum(s.is_new for s in sign_ins) == 1
    (event,) = events(url)
    assert event["data"]["id"] == sign_ins[0].user.id


def test_the_event_is_delivered_signed_from_the_service_itself(
    make_client: Callable[..., TestClient],
    flow_for: Callable[[TestClient], Any],
    database_url: str,
    receiver: WebhookReceiver,
) -> None:
    client = make_client(
        auth_database_url=database_url, webhook_url=receiver.url, webhook_secret=SECRET
    )
    user = flow_for(client).sign_in(PHONE)["user"]

    receiver.wait_for(lambda r: len(r.events()) == 1, timeout=10)
    (request,) = receiver.received
    assert request.verified
    payload = request.payload()
    assert payload["type"] == "user.registered"
    assert payload["data"]["id"] == user["id"]
    assert payload["data"]["phone"] == PHONE
    assert payload["timestamp"] == payload["data"]["created_at"]
    assert request.webhook_id == events(database_url)[0]["id"]
