"""Webhook delivery across a crash of PostgreSQL: the worker process keeps running, reconnects
when the server is back, and delivers every event, those pending across the crash included."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, select

from common import outbox
from common.migrations import ensure_postgres_database, run_migrations
from referral_service.main import MIGRATIONS
from referral_service.models import WEBHOOK_OUTBOX
from referral_service.repository import REFERRAL_ACTIVATED
from testkit.plugin import free_port
from testkit.servers import running_process
from testkit.webhook_receiver import WebhookReceiver, new_secret

from .conftest import ARTIFACTS, REPO_ROOT, Postgres, RedisServer

SECRET = new_secret()


def add_events(url: str, count: int) -> list[str]:
    now = datetime.now(UTC)
    rows = [outbox.event_row(REFERRAL_ACTIVATED, now, {"n": n}) for n in range(count)]
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(WEBHOOK_OUTBOX), rows)
    finally:
        engine.dispose()
    return [row["message_id"] for row in rows]


def delivered(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(WEBHOOK_OUTBOX.c.message_id).where(WEBHOOK_OUTBOX.c.delivered_at.isnot(None))
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_the_worker_delivers_every_event_across_a_postgres_crash(
    servers: tuple[Postgres, RedisServer],
) -> None:
    postgres, _ = servers
    url = postgres.url("referral")
    ensure_postgres_database(url)
    run_migrations(script_location=MIGRATIONS, url=url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (
        WebhookReceiver(SECRET) as receiver,
        running_process(
            [sys.executable, "-m", "referral_service.webhook_worker", "--host", "127.0.0.1"],
            env={
                "APP_ENV": "test",
                "REFERRAL_DATABASE_URL": url,
                "WEBHOOK_URL": receiver.url,
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_TIMEOUT_SECONDS": "2",
                "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
                "WEBHOOK_RETRY_MAX_SECONDS": "1",
                "WEBHOOK_WORKER_PORT": str(port),
            },
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{port}/healthz",
            log_path=Path(ARTIFACTS) / "webhook-worker-postgres-crash.log",
        ) as worker,
    ):
        before = add_events(url, 3)
        receiver.wait_for(lambda r: len(r.accepted()) == 3)

        # Events pending (the receiver is down) when PostgreSQL dies.
        receiver.stop()
        pending = add_events(url, 3)
        postgres.kill()
        postgres.start()
        receiver.start()
        after = add_events(url, 3)
        expected = set(before + pending + after)
        receiver.wait_for(lambda r: {x.webhook_id for x in r.accepted()} == expected, timeout=60)

        assert worker.poll() is None  # the same process, reconnected
    assert delivered(url) == expected
