"""The auth service's audit log: append-only rows in `audit_event`, never updated or deleted.

Each event is one INSERT (events that happen together, one INSERT of several rows), run as a
`Query`: one round trip on PostgreSQL. The sign-in's own event is written by the sign-in
statement itself (`repository.record_sign_in`). Client IPs are stored only as `ip_hash`, an
HMAC keyed with AUDIT_HASH_KEY that referral computes alike (`common.audit`). Reading is
keyset-paginated on the id, which also orders the rows by time.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    union,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth_service.models import AuditEvent
from common.audit import Event, ip_hash, stored_request_id
from common.db.query import Query
from common.db.types import UtcDateTime
from common.logging import request_id_var

AUDIT = cast(Table, AuditEvent.__table__)

SIGN_IN_SUCCEEDED = "sign_in.succeeded"
SIGN_IN_FAILED = "sign_in.failed"
SIGN_IN_REFUSED = "sign_in.refused"
LOCKOUT = "lockout"
LOGOUT = "logout"
SESSION_REVOKED = "session.revoked"
SESSIONS_REVOKED_ALL = "sessions.revoked_all"
BAN = "ban"
UNBAN = "unban"
UNLOCK = "unlock"
ADMIN_REQUEST = "admin.request"
# Every type this service writes.
TYPES = frozenset(
    {
        SIGN_IN_SUCCEEDED,
        SIGN_IN_FAILED,
        SIGN_IN_REFUSED,
        LOCKOUT,
        LOGOUT,
        SESSION_REVOKED,
        SESSIONS_REVOKED_ALL,
        BAN,
        UNBAN,
        UNLOCK,
        ADMIN_REQUEST,
    }
)


def current_request_id() -> str | None:
    return stored_request_id(request_id_var.get())


@dataclass(frozen=True, slots=True)
class Entry:
    """One event to write."""

    type: str
    actor_id: int | None = None
    subject_id: int | None = None
    subject_phone: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    AUDIT.c.id,
    AUDIT.c.at,
    AUDIT.c.type,
    AUDIT.c.actor_id,
    AUDIT.c.subject_id,
    AUDIT.c.subject_phone,
    AUDIT.c.ip_hash,
    AUDIT.c.request_id,
    AUDIT.c.detail,
)


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


class AuditLog:
    def __init__(self, engine: AsyncEngine, *, hash_key: bytes) -> None:
        self._engine = engine
        self._key = hash_key
        self._postgresql = engine.dialect.name == "postgresql"
        self._inserts: dict[int, Query] = {}

    def hash_ip(self, ip: str | None) -> str | None:
        return ip_hash(self._key, ip)

    def _insert(self, count: int) -> Query:
        """INSERT of `count` rows; parameters `<column>_<n>`."""
        query = self._inserts.get(count)
        if query is None:
            rows = []
            for n in range(count):
                detail: Any = bindparam(f"detail_{n}", type_=Text)
                if self._postgresql:
                    detail = sql_cast(detail, postgresql.JSONB)
                rows.append(
                    {
                        "at": bindparam(f"at_{n}", type_=UtcDateTime()),
                        "type": bindparam(f"type_{n}", type_=String(40)),
                        "actor_id": bindparam(f"actor_id_{n}", type_=BigInteger),
                        "subject_id": bindparam(f"subject_id_{n}", type_=BigInteger),
                        "subject_phone": bindparam(f"subject_phone_{n}", type_=String(10)),
                        "ip_hash": bindparam(f"ip_hash_{n}", type_=String(32)),
                        "request_id": bindparam(f"request_id_{n}", type_=String(64)),
                        "detail": detail,
                    }
                )
            query = self._inserts[count] = Query(AUDIT.insert().values(rows).returning(AUDIT.c.id))
        return query

    def _parameters(self, entries: Sequence[Entry], ip: str | None) -> dict[str, Any]:
        now, hashed, request_id = datetime.now(UTC), self.hash_ip(ip), current_request_id()
        parameters: dict[str, Any] = {}
        for n, entry in enumerate(entries):
            parameters |= {
                f"at_{n}": now,
                f"type_{n}": entry.type,
                f"actor_id_{n}": entry.actor_id,
                f"subject_id_{n}": entry.subject_id,
                f"subject_phone_{n}": entry.subject_phone,
                f"ip_hash_{n}": hashed,
                f"request_id_{n}": request_id,
                f"detail_{n}": json.dumps(entry.detail, separators=(",", ":")),
            }
        return parameters

    async def write(self, *entries: Entry, ip: str | None) -> None:
        """Append `entries` (one INSERT), with the request's id and the hash of `ip`."""
        if entries:
            await self._insert(len(entries)).all(self._engine, **self._parameters(entries, ip))

    async def write_in(self, connection: AsyncConnection, *entries: Entry, ip: str | None) -> None:
        """Append `entries` within the caller's transaction on `connection`."""
        if entries:
            query = self._insert(len(entries))
            await connection.execute(query.statement, self._parameters(entries, ip))

    async def page(
        self,
        *,
        types: Collection[str] | None,
        user_id: int | None,
        before_id: int | None,
        limit: int,
    ) -> list[Event]:
        """The newest events (id below `before_id`) of `types`, whose actor or subject is
        `user_id`, when given."""
        statement = _page_statement(types=types, user_id=user_id, before_id=before_id, limit=limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [Event.of_row(row) for row in rows]

    async def daily_counts(
        self, *, types: Collection[str], since: datetime
    ) -> dict[tuple[str, str], int]:
        """{(YYYY-MM-DD, type): count} of the events of `types` from `since` on (UTC days).

        The rows are found from the newest one before `since` upwards by id (the time order),
        so the statement reads only the range's rows.
        """
        before = (
            select(AUDIT.c.id)
            .where(AUDIT.c.at < since)
            .order_by(AUDIT.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        day = utc_day(AUDIT.c.at, self._engine.dialect.name).label("day")
        statement = (
            select(day, AUDIT.c.type, func.count())
            .where(
                AUDIT.c.type.in_(list(types)),
                AUDIT.c.id > func.coalesce(before, 0),
                AUDIT.c.at >= since,
            )
            .group_by(day, AUDIT.c.type)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return {(_day_text(row[0]), str(row[1])): int(row[2]) for row in rows}


def _day_text(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _page_statement(
    *, types: Collection[str] | None, user_id: int | None, before_id: int | None, limit: int
) -> Select[Any]:
    def newest(*conditions: ColumnElement[bool]) -> Select[Any]:
        where = list(conditions)
        if types is not None:
            where.append(AUDIT.c.type.in_(list(types)))
        if before_id is not None:
            where.append(AUDIT.c.id < before_id)
        return select(*_COLUMNS).where(*where).order_by(AUDIT.c.id.desc()).limit(limit)

    if user_id is None:
        return newest()
    # Actor or subject: each branch walks its own (column, id) index, then the two merge.
    either = union(
        select(newest(AUDIT.c.actor_id == user_id).subquery()),
        select(newest(AUDIT.c.subject_id == user_id).subquery()),
    ).subquery()
    return select(*either.c).order_by(either.c.id.desc()).limit(limit)
