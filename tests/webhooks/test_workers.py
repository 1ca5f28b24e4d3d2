"""The stand-alone delivery worker as a real process: several of them over one table deliver
each event once; one killed with SIGKILL mid-delivery loses nothing once restarted; SIGTERM
finishes the deliveries in flight."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from common import outbox
from common.db.urls import sync_url
from common.migrations import run_migrations
from referral_service.main import MIGRATIONS
from referral_service.models import WEBHOOK_OUTBOX
from referral_service.repository import REFERRAL_ACTIVATED
from testkit.plugin import free_port
from testkit.servers import running_process
from testkit.webhook_receiver import WebhookReceiver

from .conftest import REPO_ROOT, SECRET


@pytest.fixture
def database(require_postgres: None, make_database: Callable[[str], str]) -> str:
    url = make_database("whworker")
    run_migrations(script_location=MIGRATIONS, url=url)
    return url


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def add_events(url: str, count: int) -> list[str]:
    now = datetime.now(UTC)
    rows = [outbox.event_row(REFERRAL_ACTIVATED, now, {"n": n}) for n in range(count)]
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(insert(WEBHOOK_OUTBOX), rows)
    finally:
        engine.dispose()
    return [row["message_id"] for row in rows]


def delivered_ids(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(WEBHOOK_OUTBOX.c.message_id).where(WEBHOOK_OUTBOX.c.delivered_at.isnot(None))
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def worker(
    stack: ExitStack, url: str, receiver: WebhookReceiver, logs: Path, name: str, **env: str
) -> tuple[Popen[bytes], int]:
    port = free_port()
    process = stack.enter_context(
        running_process(
            [sys.executable, "-m", "referral_service.webhook_worker", "--host", "127.0.0.1"],
            env={
                "APP_ENV": "test",
                "LOG_JSON": "true",
                "REFERRAL_DATABASE_URL": url,
                "WEBHOOK_URL": receiver.url,
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_TIMEOUT_SECONDS": "3",
                "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
                "WEBHOOK_RETRY_MAX_SECONDS": "1",
                "WEBHOOK_WORKER_PORT": str(port),
                **env,
            },
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{port}/healthz",
            log_path=logs / f"{name}.log",
        )
    )
    return process, port


def test_two_worker_processes_deliver_each_event_once(
    database: str, receiver: WebhookReceiver, logs: Path
) -> None:
    receiver.delay = 0.01
    ids = add_events(database, 300)
    with ExitStack() as stack:
        _, port = worker(stack, database, receiver, logs, "worker-a")
        worker(stack, database, receiver, logs, "worker-b")
        receiver.wait_for(lambda r: len(r.accepted()) >= 300, timeout=60)
        time.sleep(0.5)  # a second delivery of any of them would have arrived by now
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text

    counts = Counter(r.webhook_id for r in receiver.received)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert all(r.verified for r in receiver.received)
    assert 'webhook_events_delivered_total{event_type="referral.activated"}' in metrics
    assert delivered_ids(database) == set(ids)


def test_a_worker_killed_mid_delivery_loses_no_event(
    database: str, receiver: WebhookReceiver, logs: Path
) -> None:
    receiver.delay = 0.5
    ids = add_events(database, 60)
    with ExitStack() as stack:
        process, _ = worker(stack, database, receiver, logs, "worker-killed")
        receiver.wait_for(lambda r: len(r.received) >= 5, timeout=30)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert len(receiver.accepted()) < 60

    receiver.delay = 0.0
    with ExitStack() as stack:
        worker(stack, database, receiver, logs, "worker-restarted")
        # Events claimed by the killed worker wait for their lease (2 x timeout + 10 s).
        receiver.wait_for(lambda r: {x.webhook_id for x in r.accepted()} == set(ids), timeout=60)
        time.sleep(0.5)

    assert delivered_ids(database) == set(ids)


def test_sigterm_finishes_the_deliveries_in_flight(
    database: str, receiver: WebhookReceiver, logs: Path
) -> None:
    receiver.delay = 1.0
    ids = add_events(database, 10)
    with ExitStack() as stack:
        process, _ = worker(stack, database, receiver, logs, "worker-stopped")
        receiver.wait_for(lambda r: len(r.received) >= 1, timeout=30)
        os.killpg(process.pid, signal.SIGTERM)
        # uvicorn stops gracefully, then ends by the signal it caught.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)

    answered = {r.webhook_id for r in receiver.accepted()}
    assert answered  # the batch in flight was answered...
    assert delivered_ids(database) == answered  # ...and recorded as delivered
    assert answered <= set(ids)
