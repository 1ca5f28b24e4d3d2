"""Every query of the auth service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.models import WEBHOOK_OUTBOX, User
from common import outbox, webhooks
from common.db.engine import transaction
from common.db.query import Query

USER = cast(Table, User.__table__)
USER_REGISTERED = "user.registered"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    phone: str


@dataclass(frozen=True, slots=True)
class SignIn:
    user: UserRecord
    is_new: bool


async def record_sign_in(engine: AsyncEngine, *, phone: str) -> SignIn:
    """Register the phone on its first sign-in, else note the sign-in; safe under concurrency.

    On PostgreSQL one upsert does both, and `xmax = 0` tells a row it inserted from one it
    updated. On SQLite, where transactions hold the write lock from their start, an insert
    that does nothing on a conflict is followed by the update.

    With webhooks on (an outbox attached to the engine), a registration also writes its
    `user.registered` event in the same transaction: on PostgreSQL the upsert becomes a
    data-modifying CTE whose second part inserts the event only for a row it inserted, still
    one statement; on SQLite the event is inserted after the user, under the same write lock.
    """
    now = datetime.now(UTC)
    events = outbox.attached(engine)
    if engine.dialect.name == "postgresql":
        if events is None:
            row = await _SIGN_IN.first(engine, phone=phone, now=now)
        else:
            row = await _SIGN_IN_WITH_EVENT.first(
                engine, phone=phone, now=now, message_id=webhooks.new_message_id()
            )
        assert row is not None  # the upsert returns its row
        user_id, inserted = row
        if inserted and events is not None:
            events.written()
        return SignIn(UserRecord(id=user_id, phone=phone), is_new=bool(inserted))
    async with transaction(engine) as connection:
        created = await connection.scalar(
            sqlite.insert(User)
            .values(phone=phone, created_at=now, last_login_at=now)
            .on_conflict_do_nothing(index_elements=[USER.c.phone])
            .returning(USER.c.id)
        )
        if created is not None and events is not None:
            await events.enqueue(
                connection,
                USER_REGISTERED,
                now,
                {"id": created, "phone": phone, "created_at": outbox.format_time(now)},
            )
        if created is None:
            existing = await connection.scalar(
                update(USER)
                .where(USER.c.phone == phone)
                .values(last_login_at=now)
                .returning(USER.c.id)
            )
    if created is not None:
        if events is not None:
            events.written()
        return SignIn(UserRecord(id=created, phone=phone), is_new=True)
    assert existing is not None  # the insert found the phone taken, under this write lock
    return SignIn(UserRecord(id=int(existing), phone=phone), is_new=False)


# PostgreSQL's statements, with parameters `phone` and `now`; built once and run on the pooled
# asyncpg connection as one round trip (`common.db.query`).
_NOW = bindparam("now", type_=DateTime(timezone=True))
_PHONE = bindparam("phone", type_=String(10))
_UPSERT = (
    postgresql.insert(User)
    .values(phone=_PHONE, created_at=_NOW, last_login_at=_NOW)
    .on_conflict_do_update(index_elements=[USER.c.phone], set_={"last_login_at": _NOW})
)


def _registration_with_event() -> Select[Any]:
    """The upsert, and the event of a registration, as one statement (`id`, `inserted`)."""
    signed_in = _UPSERT.returning(
        USER.c.id, USER.c.created_at, literal_column("xmax = 0").label("inserted")
    ).cte("signed_in")
    created_at = func.to_char(
        func.timezone(literal_column("'UTC'"), signed_in.c.created_at),
        literal_column(f"'{outbox.SQL_TIME_FORMAT}'"),
    )
    data = func.json_build_object(
        literal_column("'id'"),
        signed_in.c.id,
        literal_column("'phone'"),
        _PHONE,
        literal_column("'created_at'"),
        created_at,
    )
    event = (
        WEBHOOK_OUTBOX.insert()
        .from_select(
            ["message_id", "event_type", "occurred_at", "data", "next_attempt_at"],
            select(
                bindparam("message_id", type_=String(64)),
                literal_column(f"'{USER_REGISTERED}'"),
                signed_in.c.created_at,
                sql_cast(data, Text),
                signed_in.c.created_at,
            ).where(signed_in.c.inserted),
        )
        .cte("registered")
    )
    return select(signed_in.c.id, signed_in.c.inserted).add_cte(event)


_SIGN_IN = Query(_UPSERT.returning(USER.c.id, literal_column("xmax = 0")))
_SIGN_IN_WITH_EVENT = Query(_registration_with_event())
