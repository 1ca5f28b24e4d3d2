"""Event webhooks through a transactional outbox: each event is a row written in the same
transaction as the fact it reports, and a delivery loop POSTs it, signed, until it is taken.

Writing. A service whose WEBHOOK_URL is set attaches an `Outbox` to its database engine
(`attach`); the statements that register a user or activate a code look it up (`attached`) and,
only then, insert the event row in their own transaction. Without webhooks nothing is attached
and nothing is written. Each row carries its Standard Webhooks message id (`webhook-id`, the same
on every retry), its type, the time of the fact and the event's `data` as JSON text.

Delivering. `Delivery.run` claims due rows with one statement (`FOR UPDATE SKIP LOCKED` in a
subquery, so replicas never claim the same row) that also moves the row's `next_attempt_at` a
lease ahead and counts the attempt; the claim commits before any HTTP call, so no transaction
is open while a receiver answers. A 2xx marks the row delivered; anything else schedules the
next attempt after an exponential backoff with jitter, or after the receiver's `Retry-After`.
An event that cannot be delivered within `max_age` of its fact is marked failed and logged. A
worker that dies mid-delivery leaves the row to be claimed again when its lease ends, so every
event is delivered at least once; receivers deduplicate by `webhook-id`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from sqlalchemy import (
    BigInteger,
    Column,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common import webhooks
from common.db.engine import create_db_engine
from common.db.query import Query
from common.db.types import UtcDateTime
from common.settings import WebhookSettings, WebhookWorkerSettings

logger = logging.getLogger(__name__)

TABLE_NAME = "webhook_outbox"
# Timestamps in payloads: ISO 8601 in UTC with microseconds, as `format_time` writes them;
# the same format for to_char() where PostgreSQL writes the payload itself.
SQL_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
# Rows one claim takes; they are delivered side by side.
BATCH_SIZE = 20
# With nothing due, the loop looks again after this (sooner when woken in-process).
IDLE_SECONDS = 1.0
# Delivered and failed rows are deleted this long after, a batch at a time.
RETENTION = timedelta(days=7)
PURGE_EVERY_SECONDS = 3600.0
PURGE_BATCH = 1000
PENDING_REFRESH_SECONDS = 5.0
# After an error of the database (a restart, a lost connection), the loop waits this long
# before trying again, doubling up to the maximum.
ERROR_PAUSE_SECONDS = 0.5
MAX_ERROR_PAUSE_SECONDS = 10.0

PENDING = Gauge(
    "webhook_events_pending", "Events written and neither delivered nor failed", ["event_type"]
)
DELIVERED = Counter("webhook_events_delivered", "Events a receiver took (2xx)", ["event_type"])
RETRIED = Counter(
    "webhook_event_retries",
    "Delivery attempts that failed and were scheduled again",
    ["event_type"],
)
FAILED = Counter(
    "webhook_events_failed", "Events given up after WEBHOOK_MAX_AGE_SECONDS", ["event_type"]
)


_PENDING_ROWS = "delivered_at IS NULL AND failed_at IS NULL"


def outbox_table(metadata: MetaData) -> Table:
    """The events table in `metadata`; each service creates it by its own migration."""
    return Table(
        TABLE_NAME,
        metadata,
        Column(
            "id",
            BigInteger().with_variant(Integer(), "sqlite"),
            Identity(),
            primary_key=True,
        ),
        Column("message_id", String(64), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("data", Text(), nullable=False),
        Column("attempts", Integer(), nullable=False, server_default="0"),
        Column("next_attempt_at", UtcDateTime(), nullable=False),
        Column("delivered_at", UtcDateTime(), nullable=True),
        Column("failed_at", UtcDateTime(), nullable=True),
        Column("last_error", Text(), nullable=True),
        # Only the pending rows, in the order they fall due: what every claim reads.
        Index(
            "ix_webhook_outbox_next_attempt_at",
            "next_attempt_at",
            postgresql_where=text(_PENDING_ROWS),
            sqlite_where=text(_PENDING_ROWS),
        ),
    )


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_row(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The values of one new event row, due at once."""
    return {
        "message_id": webhooks.new_message_id(),
        "event_type": event_type,
        "occurred_at": occurred_at,
        "data": webhooks.encode(data),
        "next_attempt_at": occurred_at,
    }


class Outbox:
    """One database's events table, and the wake-up call of the delivery loop in this process."""

    def __init__(self, table: Table, event_types: Sequence[str]) -> None:
        self.table = table
        self.event_types = tuple(event_types)
        self._wake = asyncio.Event()

    async def enqueue(
        self,
        connection: AsyncConnection,
        event_type: str,
        occurred_at: datetime,
        data: dict[str, Any],
    ) -> None:
        """Insert an event on `connection`, inside the caller's transaction."""
        await connection.execute(
            self.table.insert().values(event_row(event_type, occurred_at, data))
        )

    def written(self) -> None:
        """An event was committed: an in-process delivery loop looks now, not after its sleep."""
        self._wake.set()

    async def wait(self, seconds: float) -> None:
        """Until `written` is called, or `seconds` have passed."""
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()


_ATTACHED: weakref.WeakKeyDictionary[Any, Outbox] = weakref.WeakKeyDictionary()


def attach(engine: AsyncEngine, outbox: Outbox) -> None:
    """Events are written to `outbox` on this engine's database from now on."""
    _ATTACHED[engine.sync_engine] = outbox


def detach(engine: AsyncEngine) -> None:
    _ATTACHED.pop(engine.sync_engine, None)


def attached(engine: AsyncEngine) -> Outbox | None:
    """The outbox of this engine's database, if this process writes events (webhooks are on)."""
    return _ATTACHED.get(engine.sync_engine)


def backoff_seconds(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """The wait after the `attempts`-th failure: base * 2**(attempts-1), at most `cap`, of
    which a random half (equal jitter: retries of events that failed together spread out, and
    none comes back sooner than half the nominal delay)."""
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date), if valid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    url: str
    secret: str
    max_age: timedelta
    retry_base_seconds: float
    retry_max_seconds: float
    timeout_seconds: float

    @property
    def lease(self) -> timedelta:
        """How long a claimed row is left alone: a delivery in flight ends well within it."""
        return timedelta(seconds=2 * self.timeout_seconds + 10)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: int
    message_id: str
    event_type: str
    occurred_at: datetime
    data: str
    attempts: int

    def payload(self) -> dict[str, Any]:
        return {
            "type": self.event_type,
            "timestamp": format_time(self.occurred_at),
            "data": json.loads(self.data),
        }


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class _Statements:
    """The loop's statements for one table, built once."""

    table: Table
    claim: Query = field(init=False)
    expire: Query = field(init=False)
    delivered: Query = field(init=False)
    retry: Query = field(init=False)
    fail: Query = field(init=False)
    pending: Query = field(init=False)
    purge: Query = field(init=False)

    def __post_init__(self) -> None:
        t = self.table
        pending = (t.c.delivered_at.is_(None), t.c.failed_at.is_(None))
        due = (*pending, t.c.next_attempt_at <= bindparam("now", type_=UtcDateTime()))

        def locked(*conditions: Any) -> Any:
            return (
                select(t.c.id)
                .where(*conditions)
                .order_by(t.c.next_attempt_at)
                .limit(bindparam("limit", type_=Integer()))
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )

        self.claim = Query(
            update(t)
            .where(
                t.c.id.in_(
                    locked(*due, t.c.occurred_at >= bindparam("oldest", type_=UtcDateTime()))
                )
            )
            .values(
                attempts=t.c.attempts + literal_column("1", Integer()),
                next_attempt_at=bindparam("lease_until", type_=UtcDateTime()),
            )
            .returning(
                t.c.id, t.c.message_id, t.c.event_type, t.c.occurred_at, t.c.data, t.c.attempts
            )
        )
        self.expire = Query(
            update(t)
            .where(
                t.c.id.in_(locked(*due, t.c.occurred_at < bindparam("oldest", type_=UtcDateTime())))
            )
            .values(failed_at=bindparam("now", type_=UtcDateTime()))
            .returning(t.c.message_id, t.c.event_type, t.c.attempts, t.c.last_error)
        )
        self.delivered = Query(
            update(t)
            .where(t.c.id == bindparam("id", type_=BigInteger()), t.c.delivered_at.is_(None))
            .values(delivered_at=bindparam("now", type_=UtcDateTime()), last_error=null())
        )
        # Only while the claim is still this worker's (no other claim has counted an attempt).
        mine = (
            t.c.id == bindparam("id", type_=BigInteger()),
            t.c.attempts == bindparam("attempts", type_=Integer()),
            *pending,
        )
        self.retry = Query(
            update(t)
            .where(*mine)
            .values(
                next_attempt_at=bindparam("next_attempt_at", type_=UtcDateTime()),
                last_error=bindparam("error", type_=Text()),
            )
        )
        self.fail = Query(
            update(t)
            .where(*mine)
            .values(
                failed_at=bindparam("now", type_=UtcDateTime()),
                last_error=bindparam("error", type_=Text()),
            )
        )
        self.pending = Query(
            select(t.c.event_type, func.count()).where(*pending).group_by(t.c.event_type)
        )
        before = bindparam("before", type_=UtcDateTime())
        self.purge = Query(
            delete(t).where(
                t.c.id.in_(
                    select(t.c.id)
                    .where(or_(t.c.delivered_at < before, t.c.failed_at < before))
                    .limit(literal_column(str(PURGE_BATCH), Integer()))
                    .scalar_subquery()
                )
            )
        )


class Delivery:
    """The delivery loop of one outbox; several of them (processes, replicas) may share it."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        policy: DeliveryPolicy,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.policy = policy
        self.client = client
        self.clock = clock
        self.rng = rng or random.Random()
        self._sql = _Statements(outbox.table)
        self._last_purge: datetime | None = None
        self._last_pending: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a batch in flight is finished first (each POST is
        bounded by the timeout). Errors of the database are logged and waited out."""
        pause = ERROR_PAUSE_SECONDS
        while not stop.is_set():
            try:
                handled = await self.run_once()
                pause = ERROR_PAUSE_SECONDS
            except Exception:
                logger.warning("webhook delivery loop error; retrying", exc_info=True)
                await _sleep_or_stop(stop, pause)
                pause = min(MAX_ERROR_PAUSE_SECONDS, pause * 2)
                continue
            if not handled:
                await _first_of(stop.wait(), self.outbox.wait(IDLE_SECONDS))

    async def run_once(self) -> int:
        """One round: expire, claim and deliver a batch, housekeeping. The events handled."""
        now = self.clock()
        oldest = now - self.policy.max_age
        expired = await self._sql.expire.all(self.engine, now=now, oldest=oldest, limit=BATCH_SIZE)
        for message_id, event_type, attempts, last_error in expired:
            FAILED.labels(event_type).inc()
            logger.error(
                "webhook event failed: not delivered within WEBHOOK_MAX_AGE_SECONDS",
                extra={
                    "webhook_id": message_id,
                    "event_type": event_type,
                    "attempts": attempts,
                    "last_error": last_error,
                },
            )
        rows = await self._sql.claim.all(
            self.engine,
            now=now,
            oldest=oldest,
            limit=BATCH_SIZE,
            lease_until=now + self.policy.lease,
        )
        claimed = [
            ClaimedEvent(row[0], row[1], row[2], _utc(row[3]), row[4], row[5]) for row in rows
        ]
        # Every delivery of the batch ends before an error of one is raised.
        outcomes = await asyncio.gather(
            *(self._deliver(event) for event in claimed), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._housekeeping(now, force_pending=bool(claimed or expired))
        return len(claimed) + len(expired)

    async def _deliver(self, event: ClaimedEvent) -> None:
        try:
            response = await webhooks.post(
                self.client,
                self.policy.url,
                secret=self.policy.secret,
                payload=event.payload(),
                message_id=event.message_id,
            )
        except httpx.HTTPError as exc:
            await self._attempt_failed(event, type(exc).__name__, retry_after=None)
            return
        if response.is_success:
            await self._sql.delivered.all(self.engine, id=event.id, now=self.clock())
            DELIVERED.labels(event.event_type).inc()
            return
        now = self.clock()
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        await self._attempt_failed(event, f"HTTP {response.status_code}", retry_after=retry_after)

    async def _attempt_failed(
        self, event: ClaimedEvent, error: str, *, retry_after: float | None
    ) -> None:
        now = self.clock()
        delay = retry_after
        if delay is None:
            delay = backoff_seconds(
                event.attempts,
                base=self.policy.retry_base_seconds,
                cap=self.policy.retry_max_seconds,
                rng=self.rng,
            )
        next_attempt = now + timedelta(seconds=delay)
        if next_attempt <= event.occurred_at + self.policy.max_age:
            await self._sql.retry.all(
                self.engine,
                id=event.id,
                attempts=event.attempts,
                next_attempt_at=next_attempt,
                error=error,
            )
            RETRIED.labels(event.event_type).inc()
            return
        await self._sql.fail.all(
            self.engine, id=event.id, attempts=event.attempts, now=now, error=error
        )
        FAILED.labels(event.event_type).inc()
        logger.error(
            "webhook event failed: no attempt left within WEBHOOK_MAX_AGE_SECONDS",
            extra={
                "webhook_id": event.message_id,
                "event_type": event.event_type,
                "attempts": event.attempts,
                "last_error": error,
            },
        )

    async def _housekeeping(self, now: datetime, *, force_pending: bool) -> None:
        if (
            force_pending
            or self._last_pending is None
            or (now - self._last_pending).total_seconds() >= PENDING_REFRESH_SECONDS
        ):
            await self.refresh_pending()
            self._last_pending = now
        if (
            self._last_purge is None
            or (now - self._last_purge).total_seconds() >= PURGE_EVERY_SECONDS
        ):
            await self._sql.purge.all(self.engine, before=now - RETENTION)
            self._last_purge = now

    async def refresh_pending(self) -> None:
        counts = dict.fromkeys(self.outbox.event_types, 0)
        for event_type, count in await self._sql.pending.all(self.engine):
            counts[event_type] = count
        for event_type, count in counts.items():
            PENDING.labels(event_type).set(count)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    await _first_of(stop.wait(), asyncio.sleep(seconds))


async def _first_of(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def delivery_policy(settings: WebhookSettings) -> DeliveryPolicy:
    """The policy of settings whose WEBHOOK_URL is set."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    return DeliveryPolicy(
        url=str(settings.webhook_url),
        secret=settings.webhook_secret.get_secret_value(),
        max_age=timedelta(seconds=settings.webhook_max_age_seconds),
        retry_base_seconds=settings.webhook_retry_base_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )


class DeliveryTask:
    """A `Delivery` running in the background of an event loop, stopped on `aclose`."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] = asyncio.create_task(delivery.run(self._stop))

    def alive(self) -> bool:
        return not self._task.done()

    async def aclose(self) -> None:
        self._stop.set()
        await self._task


@asynccontextmanager
async def delivering(
    engine: AsyncEngine, outbox: Outbox, settings: WebhookSettings
) -> AsyncIterator[DeliveryTask]:
    """The delivery loop of `outbox`, running until the block ends (then its batch in flight
    is finished)."""
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds, trust_env=False
    ) as client:
        task = DeliveryTask(Delivery(engine, outbox, delivery_policy(settings), client))
        try:
            yield task
        finally:
            await task.aclose()


@asynccontextmanager
async def service_webhooks(
    engine: AsyncEngine, table: Table, event_types: Sequence[str], settings: WebhookSettings
) -> AsyncIterator[Outbox | None]:
    """For a service's lifespan: with WEBHOOK_URL set, events are written on `engine` (and,
    with WEBHOOK_DELIVERY=in_process, delivered from this process); else nothing happens."""
    if not settings.webhooks_enabled:
        yield None
        return
    outbox = Outbox(table, event_types)
    attach(engine, outbox)
    try:
        if settings.webhook_delivery != "in_process":
            yield outbox
            return
        async with delivering(engine, outbox, settings):
            yield outbox
    finally:
        detach(engine)


# A stand-alone worker's own connections: claims and result updates are short single statements.
WORKER_POOL_SIZE = 4


def worker_app(
    settings: WebhookWorkerSettings,
    *,
    database_url: str,
    table: Table,
    event_types: Sequence[str],
) -> FastAPI:
    """A delivery worker as an ASGI app: the loop runs in its lifespan; `/healthz` answers 200
    while the loop runs (or while there is nothing to run: WEBHOOK_URL unset), `/metrics` serves
    the counters. Stopping the app (SIGTERM under uvicorn) finishes the batch in flight."""
    tasks: list[DeliveryTask] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(database_url, pool_size=WORKER_POOL_SIZE)
        try:
            if not settings.webhooks_enabled:
                logger.info("WEBHOOK_URL is not set: no events to deliver")
                yield
                return
            async with delivering(engine, Outbox(table, event_types), settings) as task:
                tasks.append(task)
                yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz(response: Response) -> dict[str, str]:
        alive = all(task.alive() for task in tasks)
        response.status_code = 200 if alive else 503
        return {"status": "ok" if alive else "stopped"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def serve_worker(app: FastAPI, *, port: int, argv: Sequence[str] | None = None) -> None:
    """Run a worker app under uvicorn until SIGTERM or SIGINT (`--host`, default all)."""
    parser = argparse.ArgumentParser(description="Deliver the service's webhook events.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - scraped by Prometheus
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=port, access_log=False, log_config=None)
