"""Every query of the auth service but the audit log's (`audit`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.audit import (
    AUDIT,
    SIGN_IN_REFUSED,
    SIGN_IN_SUCCEEDED,
    AuditLog,
    Entry,
    utc_day,
)
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
    """A sign-in recorded, or refused for a ban in force (`refused`, with its end)."""

    user: UserRecord
    is_new: bool
    refused: bool = False
    banned_until: datetime | None = None


def ban_in_force(banned_at: datetime | None, banned_until: datetime | None, now: datetime) -> bool:
    return banned_at is not None and (banned_until is None or banned_until > now)


async def record_sign_in(
    engine: AsyncEngine,
    *,
    phone: str,
    ip_hash: str | None = None,
    request_id: str | None = None,
) -> SignIn:
    """Register the phone on its first sign-in, else note the sign-in; safe under concurrency.

    A user under a ban in force is refused: nothing is updated, and the result says so. The
    audit event, `sign_in.succeeded` or `sign_in.refused`, is written with it.

    On PostgreSQL one statement does all of it: an upsert whose update applies only without a
    ban (`xmax = 0` tells a row it inserted from one it updated), the banned row read when the
    upsert returned none, and the audit row inserted from either, as data-modifying CTEs. On
    SQLite, where transactions hold the write lock from their start, the user is read, then
    inserted or updated, and the audit row written, in one transaction.

    With webhooks on (an outbox attached to the engine), a registration also writes its
    `user.registered` event in the same statement on PostgreSQL (a further CTE inserting the
    event only for a row the upsert inserted), or the same transaction on SQLite.
    """
    now = datetime.now(UTC)
    events = outbox.attached(engine)
    if engine.dialect.name == "postgresql":
        parameters = {"phone": phone, "now": now, "ip_hash": ip_hash, "request_id": request_id}
        if events is None:
            row = await _SIGN_IN.first(engine, **parameters)
        else:
            row = await _SIGN_IN_WITH_EVENT.first(
                engine, **parameters, message_id=webhooks.new_message_id()
            )
        if row is None:
            # A ban put on a user registered concurrently, after this statement's snapshot.
            return SignIn(UserRecord(id=0, phone=phone), is_new=False, refused=True)
        user_id, inserted, banned_until, refused = row
        if inserted and events is not None:
            events.written()
        return SignIn(
            UserRecord(id=user_id, phone=phone),
            is_new=bool(inserted),
            refused=bool(refused),
            banned_until=banned_until,
        )
    async with transaction(engine) as connection:
        found = (
            await connection.execute(
                select(USER.c.id, USER.c.banned_at, USER.c.banned_until).where(
                    USER.c.phone == phone
                )
            )
        ).first()
        created: int | None = None
        if found is not None and ban_in_force(found.banned_at, found.banned_until, now):
            user_id, refused, banned_until = int(found.id), True, found.banned_until
        elif found is not None:
            await connection.execute(
                update(USER).where(USER.c.id == found.id).values(last_login_at=now)
            )
            user_id, refused, banned_until = int(found.id), False, None
        else:
            created = await connection.scalar(
                sqlite.insert(User)
                .values(phone=phone, created_at=now, last_login_at=now)
                .returning(USER.c.id)
            )
            assert created is not None
            user_id, refused, banned_until = created, False, None
        entry = (
            Entry(SIGN_IN_REFUSED, user_id, user_id, phone, {"reason": "banned"})
            if refused
            else Entry(
                SIGN_IN_SUCCEEDED, user_id, user_id, phone, {"new_user": created is not None}
            )
        )
        await connection.execute(
            AUDIT.insert().values(
                at=now,
                type=entry.type,
                actor_id=entry.actor_id,
                subject_id=entry.subject_id,
                subject_phone=phone,
                ip_hash=ip_hash,
                request_id=request_id,
                detail=entry.detail,
            )
        )
        if created is not None and events is not None:
            await events.enqueue(
                connection,
                USER_REGISTERED,
                now,
                {"id": created, "phone": phone, "created_at": outbox.format_time(now)},
            )
    if created is not None and events is not None:
        events.written()
    return SignIn(
        UserRecord(id=user_id, phone=phone),
        is_new=created is not None,
        refused=refused,
        banned_until=banned_until,
    )


# PostgreSQL's statements, with parameters `phone`, `now`, `ip_hash` and `request_id`; built
# once and run on the pooled asyncpg connection as one round trip (`common.db.query`).
_NOW = bindparam("now", type_=DateTime(timezone=True))
_PHONE = bindparam("phone", type_=String(10))
_IP_HASH = bindparam("ip_hash", type_=String(32))
_REQUEST_ID = bindparam("request_id", type_=String(64))


def _ban_in_force_sql() -> ColumnElement[bool]:
    return and_(
        USER.c.banned_at.is_not(None),
        or_(USER.c.banned_until.is_(None), USER.c.banned_until > _NOW),
    )


def _sign_in_statement(*, with_event: bool) -> Select[Any]:
    """The sign-in as one statement: (`id`, `inserted`, `banned_until`, `refused`)."""
    signed_in = (
        postgresql.insert(User)
        .values(phone=_PHONE, created_at=_NOW, last_login_at=_NOW)
        .on_conflict_do_update(
            index_elements=[USER.c.phone],
            set_={"last_login_at": _NOW},
            where=not_(_ban_in_force_sql()),
        )
        .returning(USER.c.id, USER.c.created_at, literal_column("xmax = 0").label("inserted"))
        .cte("signed_in")
    )
    # The upsert returns no row for a banned user: read it (its ban) from the snapshot.
    refused = (
        select(USER.c.id, USER.c.banned_until)
        .where(USER.c.phone == _PHONE, _ban_in_force_sql(), ~exists(select(signed_in.c.id)))
        .cte("refused")
    )
    audited = AUDIT.insert().from_select(
        [
            "type",
            "at",
            "actor_id",
            "subject_id",
            "subject_phone",
            "ip_hash",
            "request_id",
            "detail",
        ],
        union_all(
            select(
                literal_column(f"'{SIGN_IN_SUCCEEDED}'"),
                _NOW,
                signed_in.c.id,
                signed_in.c.id,
                _PHONE,
                _IP_HASH,
                _REQUEST_ID,
                func.jsonb_build_object(literal_column("'new_user'"), signed_in.c.inserted),
            ),
            select(
                literal_column(f"'{SIGN_IN_REFUSED}'"),
                _NOW,
                refused.c.id,
                refused.c.id,
                _PHONE,
                _IP_HASH,
                _REQUEST_ID,
                func.jsonb_build_object(literal_column("'reason'"), literal_column("'banned'")),
            ),
        ),
    )
    statement = union_all(
        select(
            signed_in.c.id,
            signed_in.c.inserted,
            sql_cast(literal_column("NULL"), DateTime(timezone=True)).label("banned_until"),
            literal_column("false").label("refused"),
        ),
        select(
            refused.c.id,
            literal_column("false"),
            refused.c.banned_until,
            literal_column("true"),
        ),
    ).subquery()
    result = select(*statement.c).add_cte(audited.cte("audited"))
    if with_event:
        result = result.add_cte(_registration_event(signed_in))
    return result


def _registration_event(signed_in: Any) -> Any:
    """The `user.registered` event of a row the upsert inserted, as a CTE."""
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
    return (
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


_SIGN_IN = Query(_sign_in_statement(with_event=False))
_SIGN_IN_WITH_EVENT = Query(_sign_in_statement(with_event=True))


# The admin API's reads and writes.


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    phone: str
    created_at: datetime
    last_login_at: datetime
    banned_at: datetime | None
    banned_until: datetime | None
    ban_reason: str | None

    def banned(self, now: datetime) -> bool:
        return ban_in_force(self.banned_at, self.banned_until, now)


_USER_COLUMNS = (
    USER.c.id,
    USER.c.phone,
    USER.c.created_at,
    USER.c.last_login_at,
    USER.c.banned_at,
    USER.c.banned_until,
    USER.c.ban_reason,
)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    utc = _utc(moment)
    return utc.isoformat().replace("+00:00", "Z") if utc else None


def _user_row(values: Sequence[Any]) -> UserRow:
    created_at, last_login_at = _utc(values[2]), _utc(values[3])
    assert created_at is not None and last_login_at is not None
    return UserRow(
        id=int(values[0]),
        phone=str(values[1]),
        created_at=created_at,
        last_login_at=last_login_at,
        banned_at=_utc(values[4]),
        banned_until=_utc(values[5]),
        ban_reason=values[6],
    )


_FETCH = bindparam("fetch", type_=Integer)
_USER_BY_ID = Query(select(*_USER_COLUMNS).where(USER.c.id == bindparam("id", type_=BigInteger)))
_NEWEST_USERS = Query(
    select(*_USER_COLUMNS)
    .where(USER.c.id < bindparam("before_id", type_=BigInteger))
    .order_by(USER.c.id.desc())
    .limit(_FETCH)
)


def _users_by_phone() -> Select[Any]:
    """The user `first_id` (0: none), then the phones in [low, high] above `after`, but not
    `exclude_id`, in phone order: one statement on the primary key and the phone index."""
    exact = select(*_USER_COLUMNS, literal_column("0").label("rank")).where(
        USER.c.id == bindparam("first_id", type_=BigInteger)
    )
    by_phone = (
        select(*_USER_COLUMNS, literal_column("1").label("rank"))
        .where(
            USER.c.phone >= bindparam("low", type_=String(10)),
            USER.c.phone <= bindparam("high", type_=String(10)),
            USER.c.phone > bindparam("after", type_=String(10)),
            USER.c.id != bindparam("exclude_id", type_=BigInteger),
        )
        .order_by(USER.c.phone)
        .limit(_FETCH)
        .subquery("by_phone")
    )
    both = union_all(exact, select(*by_phone.c)).subquery("found")
    return select(*list(both.c)[: len(_USER_COLUMNS)]).order_by(both.c.rank, both.c.phone)


_USERS_BY_PHONE = Query(_users_by_phone())
# An id no row has: SQLite and PostgreSQL number rows from 1.
NO_ID = 0


async def user_by_id(engine: AsyncEngine, user_id: int) -> UserRow | None:
    row = await _USER_BY_ID.first(engine, id=user_id)
    return _user_row(row) if row is not None else None


async def newest_users(engine: AsyncEngine, *, before_id: int, limit: int) -> list[UserRow]:
    """Up to `limit` users with ids below `before_id`, newest first."""
    rows = await _NEWEST_USERS.all(engine, before_id=before_id, fetch=limit)
    return [_user_row(row) for row in rows]


async def users_by_phone(
    engine: AsyncEngine,
    *,
    low: str,
    high: str,
    after: str,
    first_id: int,
    exclude_id: int,
    limit: int,
) -> list[UserRow]:
    """User `first_id` if it exists, then up to `limit` users by phone in [low, high] after
    `after` (never `exclude_id`)."""
    rows = await _USERS_BY_PHONE.all(
        engine,
        low=low,
        high=high,
        after=after,
        first_id=first_id,
        exclude_id=exclude_id,
        fetch=limit,
    )
    return [_user_row(row) for row in rows]


async def ban(
    engine: AsyncEngine,
    audit: AuditLog,
    *,
    user_id: int,
    admin_id: int,
    reason: str,
    until: datetime | None,
    ip: str | None,
) -> UserRow | None:
    """Put the user under a ban (replacing one in force) and write its `ban` event."""
    async with transaction(engine) as connection:
        row = (
            await connection.execute(
                update(USER)
                .where(USER.c.id == user_id)
                .values(
                    banned_at=datetime.now(UTC),
                    banned_until=until,
                    ban_reason=reason,
                    banned_by=admin_id,
                )
                .returning(*_USER_COLUMNS)
            )
        ).first()
        if row is None:
            return None
        detail = {"reason": reason, "until": _iso(until)}
        await audit.write_in(connection, Entry("ban", admin_id, user_id, row.phone, detail), ip=ip)
    return _user_row(row)


async def unban(
    engine: AsyncEngine, audit: AuditLog, *, user_id: int, admin_id: int, ip: str | None
) -> bool:
    """Lift the user's ban, if any, and write the `unban` event; False if there is no user."""
    async with transaction(engine) as connection:
        phone = await connection.scalar(
            update(USER)
            .where(USER.c.id == user_id)
            .values(banned_at=None, banned_until=None, ban_reason=None, banned_by=None)
            .returning(USER.c.phone)
        )
        if phone is None:
            return False
        await audit.write_in(connection, Entry("unban", admin_id, user_id, phone), ip=ip)
    return True


async def new_users_per_day(engine: AsyncEngine, *, since: datetime) -> dict[str, int]:
    """{YYYY-MM-DD: users registered that UTC day} from `since` on, by the created_at index."""
    day = utc_day(USER.c.created_at, engine.dialect.name).label("day")
    statement = select(day, func.count()).where(USER.c.created_at >= since).group_by(day)
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return {row[0] if isinstance(row[0], str) else row[0].isoformat(): int(row[1]) for row in rows}


async def count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(USER)) or 0)
