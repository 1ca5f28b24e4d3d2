"""The outbox on PostgreSQL: rolled-back and concurrent activations, and the delivery loop
against a real receiver (retries, Retry-After, a receiver that is down, expiry, two loops)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, create_engine, insert, select, text

from common import outbox
from common.db.engine import create_db_engine
from common.db.urls import sync_url
from common.migrations import run_migrations
from referral_service.config import ReferralSettings
from referral_service.main import MIGRATIONS
from referral_service.models import WEBHOOK_OUTBOX
from referral_service.repository import REFERRAL_ACTIVATED
from testkit.webhook_receiver import WebhookReceiver, new_secret

SECRET = new_secret()


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    return make_settings(
        webhook_url="http://127.0.0.1:9/unused", webhook_secret=SECRET, webhook_delivery="worker"
    )


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(WEBHOOK_OUTBOX.c.event_type, WEBHOOK_OUTBOX.c.data)).all()
    return [{"type": t, "data": json.loads(d)} for t, d in rows]


def test_an_activation_rolled_back_writes_no_event(
    require_postgres: None,
    activate: Callable[[int, object], httpx.Response],
    code_of: Callable[[int], str],
    engine: Engine,
    database_url: str,
) -> None:
    """An activation that cannot finish within the statement timeout (its invitee is locked by
    another session) is rolled back: neither the activation nor its event remains."""
    code = code_of(1)
    code_of(2)
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(2)"))
            locked.set()
            release.wait(10)
            connection.execute(text("SELECT pg_advisory_unlock(2)"))

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        response = activate(2, code)
    finally:
        release.set()
        holder.join()

    assert response.status_code == 503, response.text
    assert events(engine) == []
    assert activate(2, code).status_code == 200
    assert len(events(engine)) == 1


def test_concurrent_activations_write_one_event_each(
    require_postgres: None,
    activate: Callable[[int, object], httpx.Response],
    code_of: Callable[[int], str],
    engine: Engine,
    database_url: str,
) -> None:
    code = code_of(1)
    for user_id in range(2, 22):
        code_of(user_id)

    def run() -> list[int]:
        attempts = [user_id for user_id in range(2, 22) for _ in range(3)]
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda u: activate(u, code).status_code, attempts))

    assert set(run()) == {200}
    invitees = sorted(event["data"]["invitee"]["id"] for event in events(engine))
    assert invitees == list(range(2, 22))


# --- the delivery loop ------------------------------------------------------------------------


@pytest.fixture
def outbox_url(require_postgres: None, make_database: Callable[[str], str]) -> str:
    url = make_database("outbox")
    run_migrations(script_location=MIGRATIONS, url=url)
    return url


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def add_events(url: str, count: int, *, occurred_at: datetime | None = None) -> list[str]:
    """`count` pending events; their webhook-ids."""
    when = occurred_at or datetime.now(UTC)
    rows = [
        outbox.event_row(REFERRAL_ACTIVATED, when, {"invite_code": f"c{n:05d}"})
        for n in range(count)
    ]
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(insert(WEBHOOK_OUTBOX), rows)
    finally:
        engine.dispose()
    return [row["message_id"] for row in rows]


def table(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(WEBHOOK_OUTBOX)).all())
    finally:
        engine.dispose()


def policy(url: str, **overrides: Any) -> outbox.DeliveryPolicy:
    values: dict[str, Any] = {
        "url": url,
        "secret": SECRET,
        "max_age": timedelta(minutes=5),
        "retry_base_seconds": 0.2,
        "retry_max_seconds": 0.5,
        "timeout_seconds": 2.0,
        **overrides,
    }
    return outbox.DeliveryPolicy(**values)


def run_loops(
    url: str,
    delivery_policy: outbox.DeliveryPolicy,
    until: Callable[[], bool],
    *,
    loops: int = 1,
    timeout: float = 30,
    during: Callable[[], None] | None = None,
) -> None:
    """Run `loops` delivery loops (each with its own engine) until `until()` holds."""

    async def main() -> None:
        stop = asyncio.Event()
        engines = [create_db_engine(url, pool_size=5) for _ in range(loops)]
        async with httpx.AsyncClient(timeout=delivery_policy.timeout_seconds) as client:
            tasks = [
                asyncio.create_task(
                    outbox.Delivery(
                        engine,
                        outbox.Outbox(WEBHOOK_OUTBOX, [REFERRAL_ACTIVATED]),
                        delivery_policy,
                        client,
                    ).run(stop)
                )
                for engine in engines
            ]
            try:
                deadline = asyncio.get_running_loop().time() + timeout
                while not until():
                    assert asyncio.get_running_loop().time() < deadline, "timed out"
                    if during is not None:
                        await asyncio.to_thread(during)
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
                for engine in engines:
                    await engine.dispose()

    asyncio.run(main())


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"event_type": REFERRAL_ACTIVATED}) or 0.0


def test_each_event_is_delivered_signed_once(outbox_url: str, receiver: WebhookReceiver) -> None:
    ids = add_events(outbox_url, 5)
    delivered_before = counter("webhook_events_delivered_total")

    run_loops(outbox_url, policy(receiver.url), lambda: len(receiver.accepted()) == 5)

    assert sorted(r.webhook_id for r in receiver.received) == sorted(ids)
    assert all(r.verified for r in receiver.received)
    assert all(row.delivered_at is not None and row.attempts == 1 for row in table(outbox_url))
    assert counter("webhook_events_delivered_total") - delivered_before == 5


def test_a_429_with_retry_after_is_honoured(outbox_url: str, receiver: WebhookReceiver) -> None:
    (message_id,) = add_events(outbox_url, 1)
    receiver.answer_next(429, {"Retry-After": "2"})
    retried_before = counter("webhook_event_retries_total")

    run_loops(outbox_url, policy(receiver.url), lambda: len(receiver.accepted()) == 1)

    first, second = receiver.received
    assert first.status == 429 and second.status == 200
    assert first.webhook_id == second.webhook_id == message_id
    # Without the header the backoff would have been 0.1-0.2 s.
    assert 1.9 <= second.at - first.at < 4
    assert counter("webhook_event_retries_total") - retried_before == 1


def test_a_receiver_down_for_a_while_gets_every_event_with_the_same_id(
    outbox_url: str, receiver: WebhookReceiver
) -> None:
    receiver.stop()
    ids = add_events(outbox_url, 3)
    attempts_while_down = threading.Event()

    def come_back() -> None:
        # Back up once every event has failed at least twice against the closed port.
        if not receiver.running and all(row.attempts >= 2 for row in table(outbox_url)):
            receiver.start()
            attempts_while_down.set()

    run_loops(
        outbox_url,
        policy(receiver.url),
        lambda: len(receiver.accepted()) == 3,
        during=come_back,
    )

    assert attempts_while_down.is_set()
    assert sorted(r.webhook_id for r in receiver.received) == sorted(ids)
    assert all(row.delivered_at is not None and row.attempts >= 3 for row in table(outbox_url))


def test_an_event_past_its_max_age_is_failed_and_counted(
    outbox_url: str, receiver: WebhookReceiver
) -> None:
    add_events(outbox_url, 1, occurred_at=datetime.now(UTC) - timedelta(hours=2))
    failed_before = counter("webhook_events_failed_total")

    run_loops(
        outbox_url,
        policy(receiver.url, max_age=timedelta(hours=1)),
        lambda: table(outbox_url)[0].failed_at is not None,
    )

    assert receiver.received == []
    assert counter("webhook_events_failed_total") - failed_before == 1


def test_retries_stop_at_the_max_age(outbox_url: str, receiver: WebhookReceiver) -> None:
    receiver.status = 500
    add_events(outbox_url, 1)

    run_loops(
        outbox_url,
        policy(receiver.url, max_age=timedelta(seconds=4)),
        lambda: table(outbox_url)[0].failed_at is not None,
    )

    (row,) = table(outbox_url)
    assert row.delivered_at is None
    assert row.last_error == "HTTP 500"
    assert row.attempts == len(receiver.received) >= 2
    assert len({r.webhook_id for r in receiver.received}) == 1


def test_two_loops_never_deliver_one_event_twice(
    outbox_url: str, receiver: WebhookReceiver
) -> None:
    receiver.delay = 0.02
    ids = add_events(outbox_url, 200)

    run_loops(outbox_url, policy(receiver.url), lambda: len(receiver.received) >= 200, loops=2)

    counts = Counter(r.webhook_id for r in receiver.received)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
