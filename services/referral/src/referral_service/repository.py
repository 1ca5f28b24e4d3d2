"""Every query the referral service makes, on PostgreSQL (asyncpg) and on SQLite (aiosqlite).

Each function is one unit of work against the engine it is given. Where that unit is a single
statement it runs without a transaction block (autocommit): on PostgreSQL a lone statement is
atomic by itself, and BEGIN and COMMIT would double its round trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    CHAR,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common import outbox, webhooks
from common.db.engine import STATEMENT_TIMEOUT_SECONDS, transaction
from common.db.query import Query
from referral_service import audit
from referral_service.errors import (
    InviteCodeAlreadyActivated,
    InviteCodeNotFound,
    OwnInviteCode,
    ReferralCycle,
)
from referral_service.models import Activation, AuditEvent, Member

MEMBER = cast(Table, Member.__table__)
ACTIVATION = cast(Table, Activation.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
NO_ORIGIN = audit.Origin()


@dataclass(frozen=True, slots=True)
class MemberRecord:
    user_id: int
    phone: str
    invite_code: str
    invited_count: int


class Outcome(StrEnum):
    """What an activation attempt came to; the names `activate_invite_code` returns."""

    ACTIVATED = "activated"
    REPEATED = "repeated"
    NOT_FOUND = "not_found"
    OWN_CODE = "own_code"
    ALREADY_ACTIVATED = "already_activated"
    CYCLE = "cycle"
    NO_MEMBER = "no_member"


@dataclass(frozen=True, slots=True)
class ActivationResult:
    outcome: Outcome
    invite_code: str | None = None
    activated_at: datetime | None = None
    inviter_id: int | None = None


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """For one statement: no transaction block on PostgreSQL; SQLite's usual transaction."""
    if not _is_postgresql(engine):
        async with transaction(engine) as connection:
            yield connection
        return
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


def _is_postgresql(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


# The hot statements are built once, with parameters: building a statement costs more than
# running it through SQLAlchemy's compiled cache.
_MEMBER = Query(
    select(MEMBER.c.user_id, MEMBER.c.phone, MEMBER.c.invite_code, MEMBER.c.invited_count).where(
        MEMBER.c.user_id == bindparam("user_id")
    )
)


async def get_member(engine: AsyncEngine, user_id: int) -> MemberRecord | None:
    row = await _MEMBER.first(engine, user_id=user_id)
    return MemberRecord(*row) if row else None


async def insert_member(
    engine: AsyncEngine, *, user_id: int, phone: str, invite_code: str, created_at: datetime
) -> None:
    """Insert, unless the user or the code exists (a concurrent first sight, a code collision).

    A new member is the root of its own tree.
    """
    dialect = postgresql if _is_postgresql(engine) else sqlite
    statement = (
        dialect.insert(Member)
        .values(
            user_id=user_id,
            phone=phone,
            invite_code=invite_code,
            root_id=user_id,
            created_at=created_at,
        )
        .on_conflict_do_nothing()
    )
    async with _autocommit(engine) as connection:
        await connection.execute(statement)


REFERRAL_ACTIVATED = "referral.activated"


# The function's parameters (migrations 0004 and 0005): the event's webhook-id is NULL without
# webhooks (no event); the IP hash and the request id go into the attempt's audit row.
_ACTIVATE = Query(
    select(
        func.activate_invite_code(
            bindparam("invitee", type_=BigInteger),
            bindparam("code", type_=CHAR(6)),
            bindparam("now", type_=DateTime(timezone=True)),
            bindparam("deadline", type_=DateTime(timezone=True)),
            bindparam("event_id", type_=Text),
            bindparam("ip_hash", type_=Text),
            bindparam("request_id", type_=Text),
        )
        .table_valued("outcome", "invite_code", "activated_at", "inviter_id")
        .render_derived()
    )
)

# The error code each refusal is answered with, as `activation.refused` records it.
REFUSAL_REASONS = {
    Outcome.NOT_FOUND: InviteCodeNotFound.code,
    Outcome.OWN_CODE: OwnInviteCode.code,
    Outcome.ALREADY_ACTIVATED: InviteCodeAlreadyActivated.code,
    Outcome.CYCLE: ReferralCycle.code,
}


async def activate(
    engine: AsyncEngine,
    *,
    invitee_id: int,
    invite_code: str,
    now: datetime,
    origin: audit.Origin = NO_ORIGIN,
) -> ActivationResult:
    """Make the code's owner the invitee's inviter, unless a rule says no.

    The rules, in the contract's order: the code exists, it is not the invitee's own, the
    invitee has not activated a code (the same code again is a repeat, answered as the first
    time), and the code's owner is not in the invitee's own tree (a cycle). The invitee has
    no inviter at that point, so it is the root of its tree, and the owner is below it exactly
    when the owner's root is the invitee: one lookup of `member.root_id`.

    Why the checks hold until the insert. Two facts must not change meanwhile: the invitee has
    no inviter, and the owner's root R is still a root. Only an activation *by* a user changes
    either about that user, and every activation holds an exclusive advisory lock on its
    invitee and a shared one on the root of the tree it joins. So holding the invitee's lock
    exclusively and R's shared freezes both, while activations that join R's tree (shared
    locks on R) run side by side. If R activated a code while we waited for the locks, the
    owner's root has moved: the locks are released and taken again for the new root. Locks are
    taken in ascending user id, so two activations never wait for each other in a circle. The
    invitee's tree then moves under R with it: every member whose root was the invitee gets R.

    On PostgreSQL this is one call to the `activate_invite_code` function (migration 0002),
    which will not commit after its deadline (the statement timeout from now): a caller that
    has given up has told its client the activation failed. On SQLite (the single process)
    every transaction holds the write lock from its start, so the same steps run one
    activation at a time, from Python.

    With webhooks on (an outbox attached to the engine) a successful activation also writes
    its `referral.activated` event in the same transaction: inside the function on PostgreSQL
    (its last argument, the event's webhook-id; migration 0004), after the steps on SQLite.
    A refusal or a repeat writes none.

    Every attempt but a repeat (and an invitee who is not yet a member, whom the caller makes
    one and then tries again) writes its audit row in the same transaction, with `origin`:
    `activation.succeeded`, or `activation.refused` with the error code the refusal is
    answered with (migration 0005 on PostgreSQL, after the steps on SQLite).
    """
    events = outbox.attached(engine)
    try:
        if _is_postgresql(engine):
            deadline = datetime.now(UTC) + timedelta(seconds=STATEMENT_TIMEOUT_SECONDS)
            row = await _ACTIVATE.first(
                engine,
                invitee=invitee_id,
                code=invite_code,
                now=now,
                deadline=deadline,
                event_id=None if events is None else webhooks.new_message_id(),
                ip_hash=origin.ip_hash,
                request_id=origin.request_id,
            )
            assert row is not None  # the function returns exactly one row
            result = ActivationResult(Outcome(row[0]), row[1], row[2], row[3])
        else:
            async with transaction(engine) as connection:
                result = await _activate_step_by_step(
                    connection, invitee_id=invitee_id, invite_code=invite_code, now=now
                )
                if result.outcome is Outcome.ACTIVATED and events is not None:
                    await _enqueue_activated(connection, events, invitee_id, result)
                audit_event = _audit_row(invitee_id, invite_code, now, origin, result)
                if audit_event is not None:
                    await connection.execute(AUDIT.insert().values(audit_event))
        if result.outcome is Outcome.ACTIVATED and events is not None:
            events.written()
        return result
    except (IntegrityError, asyncpg.IntegrityConstraintViolationError):
        # The primary key on activation.invitee_id is the last line of defence: should the
        # locks ever let a second activation of one user through, it is refused here.
        previous = await _previous_activation(engine, invitee_id)
        if previous is None:
            raise
        refusal = _audit_row(invitee_id, invite_code, now, origin, previous)
        if refusal is not None:
            await insert_audit_event(engine, refusal)
        return previous


def _audit_row(
    invitee_id: int,
    invite_code: str,
    now: datetime,
    origin: audit.Origin,
    result: ActivationResult,
) -> dict[str, Any] | None:
    """The audit row of an activation attempt, as the PostgreSQL function writes it; None for
    a repeat and for an invitee who is not a member yet."""
    if result.outcome is Outcome.ACTIVATED:
        event_type = audit.ACTIVATION_SUCCEEDED
        detail: dict[str, Any] = {"invite_code": invite_code, "inviter_id": result.inviter_id}
    elif result.outcome in REFUSAL_REASONS:
        event_type = audit.ACTIVATION_REFUSED
        detail = audit.refusal_detail(REFUSAL_REASONS[result.outcome], invite_code)
    else:
        return None
    return audit_row(event_type, invitee_id, origin, detail, at=now)


def audit_row(
    event_type: str,
    user_id: int,
    origin: audit.Origin,
    detail: dict[str, Any],
    *,
    at: datetime,
) -> dict[str, Any]:
    """An audit row of something `user_id` did to itself (the actor is the subject)."""
    return {
        "at": at,
        "type": event_type,
        "actor_id": user_id,
        "subject_id": user_id,
        "ip_hash": origin.ip_hash,
        "request_id": origin.request_id,
        "detail": detail,
    }


async def insert_audit_event(engine: AsyncEngine, row: dict[str, Any]) -> None:
    """One audit row (from `audit_row`), alone: a refusal decided before any other statement."""
    async with _autocommit(engine) as connection:
        await connection.execute(AUDIT.insert().values(row))


async def _activate_step_by_step(
    connection: AsyncConnection, *, invitee_id: int, invite_code: str, now: datetime
) -> ActivationResult:
    """`activate_invite_code` for SQLite, statement by statement, in one write transaction."""
    owner = await connection.scalar(
        select(MEMBER.c.user_id).where(MEMBER.c.invite_code == invite_code)
    )
    if owner is None:
        return ActivationResult(Outcome.NOT_FOUND)
    if owner == invitee_id:
        return ActivationResult(Outcome.OWN_CODE)
    previous = await _previous(connection, invitee_id, invite_code)
    if previous is not None:
        return previous
    if (
        await connection.scalar(select(MEMBER.c.user_id).where(MEMBER.c.user_id == invitee_id))
        is None
    ):
        return ActivationResult(Outcome.NO_MEMBER)
    root = await connection.scalar(select(MEMBER.c.root_id).where(MEMBER.c.user_id == owner))
    if root == invitee_id:
        return ActivationResult(Outcome.CYCLE)
    await connection.execute(
        ACTIVATION.insert().values(
            invitee_id=invitee_id, inviter_id=owner, invite_code=invite_code, activated_at=now
        )
    )
    await connection.execute(
        update(MEMBER)
        .where(MEMBER.c.user_id == owner)
        .values(invited_count=MEMBER.c.invited_count + 1)
    )
    await connection.execute(
        update(MEMBER).where(MEMBER.c.root_id == invitee_id).values(root_id=root)
    )
    return ActivationResult(Outcome.ACTIVATED, invite_code, now, owner)


async def _enqueue_activated(
    connection: AsyncConnection, events: outbox.Outbox, invitee_id: int, result: ActivationResult
) -> None:
    """The `referral.activated` event of `result`, in the activation's transaction (SQLite)."""
    assert result.inviter_id is not None and result.activated_at is not None
    phones = dict(
        (
            await connection.execute(
                select(MEMBER.c.user_id, MEMBER.c.phone).where(
                    MEMBER.c.user_id.in_([invitee_id, result.inviter_id])
                )
            )
        ).all()
    )
    await events.enqueue(
        connection,
        REFERRAL_ACTIVATED,
        result.activated_at,
        {
            "invitee": {"id": invitee_id, "phone": phones[invitee_id]},
            "inviter": {"id": result.inviter_id, "phone": phones[result.inviter_id]},
            "invite_code": result.invite_code,
            "activated_at": outbox.format_time(result.activated_at),
        },
    )


async def _previous(
    connection: AsyncConnection, invitee_id: int, invite_code: str | None
) -> ActivationResult | None:
    """The invitee's activation as the outcome of activating `invite_code` now, if it has one."""
    row = (
        await connection.execute(
            select(
                ACTIVATION.c.invite_code, ACTIVATION.c.activated_at, ACTIVATION.c.inviter_id
            ).where(ACTIVATION.c.invitee_id == invitee_id)
        )
    ).one_or_none()
    if row is None:
        return None
    outcome = Outcome.REPEATED if row.invite_code == invite_code else Outcome.ALREADY_ACTIVATED
    return ActivationResult(outcome, *row)


async def _previous_activation(engine: AsyncEngine, invitee_id: int) -> ActivationResult | None:
    async with _autocommit(engine) as connection:
        return await _previous(connection, invitee_id, None)


def _invitee_page(*, after_cursor: bool) -> Select[Any]:
    """Newest first; with `after_cursor`, strictly after (:before_at, :before_id)."""
    invitee = MEMBER.alias("invitee")
    statement = (
        select(ACTIVATION.c.invitee_id, invitee.c.phone, ACTIVATION.c.activated_at)
        .join(invitee, invitee.c.user_id == ACTIVATION.c.invitee_id)
        .where(ACTIVATION.c.inviter_id == bindparam("inviter_id"))
        .order_by(ACTIVATION.c.activated_at.desc(), ACTIVATION.c.invitee_id.desc())
        .limit(bindparam("limit"))
    )
    if after_cursor:
        statement = statement.where(
            tuple_(ACTIVATION.c.activated_at, ACTIVATION.c.invitee_id)
            < tuple_(
                # The column's own types: SQLite compares the timestamp as the text it stores.
                bindparam("before_at", type_=ACTIVATION.c.activated_at.type),
                bindparam("before_id", type_=ACTIVATION.c.invitee_id.type),
            )
        )
    return statement


_FIRST_PAGE = _invitee_page(after_cursor=False)
_FIRST_PAGE_QUERY = Query(_FIRST_PAGE)
_NEXT_PAGE_QUERY = Query(_invitee_page(after_cursor=True))


async def invitees(
    engine: AsyncEngine, *, inviter_id: int, limit: int, before: tuple[datetime, int] | None
) -> Sequence[Any]:
    """Newest first, strictly after the keyset position `before` when given."""
    if before is None:
        return await _FIRST_PAGE_QUERY.all(engine, inviter_id=inviter_id, limit=limit)
    return await _NEXT_PAGE_QUERY.all(
        engine, inviter_id=inviter_id, limit=limit, before_at=before[0], before_id=before[1]
    )


def _profile() -> Select[Any]:
    page = _FIRST_PAGE.subquery("page")
    own = ACTIVATION.alias("own")
    return (
        select(
            MEMBER.c.invite_code,
            MEMBER.c.invited_count,
            own.c.invite_code,
            page.c.invitee_id,
            page.c.phone,
            page.c.activated_at,
        )
        .select_from(MEMBER)
        .outerjoin(own, own.c.invitee_id == MEMBER.c.user_id)
        .outerjoin(page, true())
        .where(MEMBER.c.user_id == bindparam("inviter_id"))
        .order_by(page.c.activated_at.desc(), page.c.invitee_id.desc())
    )


_PROFILE = Query(_profile())


async def profile_rows(engine: AsyncEngine, *, user_id: int, limit: int) -> Sequence[Sequence[Any]]:
    """The member's profile in one statement: a row per invitee on the first page, or one row.

    Each row: invite code, invited count, the code the member activated, then the invitee's
    id, phone and activation time (all None for a member nobody has joined). No row: no member.
    """
    return await _PROFILE.all(engine, inviter_id=user_id, limit=limit)


# The operator console's reads. None is on a hot path: each is one statement through
# SQLAlchemy, except the two that run as `Query`.

CHAIN_DEPTH = 50


async def members(engine: AsyncEngine, user_ids: Sequence[int]) -> Sequence[Any]:
    """(user id, invite code, activated code, invited count) of each of these who is a member."""
    own = ACTIVATION.alias("own")
    statement = (
        select(MEMBER.c.user_id, MEMBER.c.invite_code, own.c.invite_code, MEMBER.c.invited_count)
        .outerjoin(own, own.c.invitee_id == MEMBER.c.user_id)
        .where(MEMBER.c.user_id.in_(user_ids))
        .order_by(MEMBER.c.user_id)
    )
    async with _autocommit(engine) as connection:
        return (await connection.execute(statement)).all()


def _member_and_chain() -> Select[Any]:
    """The member (depth 0) and its inviters upwards (depth 1 the direct one), at most
    CHAIN_DEPTH of them; each with its phone, code, invited count and activated code."""
    # Constants as SQL text: `Query` passes only the named parameters.
    chain = select(
        literal_column("0", Integer).label("depth"),
        bindparam("user_id", type_=BigInteger).label("user_id"),
    ).cte("chain", recursive=True)
    step = ACTIVATION.alias("step")
    chain = chain.union_all(
        select((chain.c.depth + literal_column("1", Integer)).label("depth"), step.c.inviter_id)
        .join(step, step.c.invitee_id == chain.c.user_id)
        .where(chain.c.depth < literal_column(str(CHAIN_DEPTH), Integer))
    )
    own = ACTIVATION.alias("own")
    return (
        select(
            chain.c.depth,
            MEMBER.c.user_id,
            MEMBER.c.phone,
            MEMBER.c.invite_code,
            MEMBER.c.invited_count,
            own.c.invite_code,
        )
        .join(MEMBER, MEMBER.c.user_id == chain.c.user_id)
        .outerjoin(own, own.c.invitee_id == MEMBER.c.user_id)
        .order_by(chain.c.depth)
    )


_MEMBER_AND_CHAIN = Query(_member_and_chain())


async def member_and_chain(engine: AsyncEngine, user_id: int) -> Sequence[Sequence[Any]]:
    """One recursive statement: (depth, id, phone, invite code, invited count, activated code),
    the member first (depth 0), then its inviters, nearest first. No row: no member."""
    return await _MEMBER_AND_CHAIN.all(engine, user_id=user_id)


def _utc_day(engine: AsyncEngine) -> ColumnElement[Any]:
    if _is_postgresql(engine):
        return cast_(func.timezone("UTC", AUDIT.c.at), Date)
    # SQLite stores the time as UTC text (common.db.types.UtcDateTime).
    return func.date(AUDIT.c.at)


async def activation_counts(engine: AsyncEngine, *, since: datetime) -> Sequence[Any]:
    """(UTC day, audit type, refusal reason or None, count) of the activation attempts since
    `since`; days without any attempt have no row."""
    day = _utc_day(engine).label("day")
    reason = AUDIT.c.detail["reason"].as_string().label("reason")
    statement = (
        select(day, AUDIT.c.type, reason, func.count())
        .where(AUDIT.c.type.in_(audit.TYPES), AUDIT.c.at >= since)
        .group_by(day, AUDIT.c.type, reason)
    )
    async with _autocommit(engine) as connection:
        return (await connection.execute(statement)).all()


_TOP_INVITERS = Query(
    select(MEMBER.c.user_id, MEMBER.c.phone, MEMBER.c.invite_code, MEMBER.c.invited_count)
    # As SQL text, as in the partial index's predicate: a parameter could not match it.
    .where(MEMBER.c.invited_count > literal_column("0", Integer))
    .order_by(MEMBER.c.invited_count.desc(), MEMBER.c.user_id)
    .limit(bindparam("limit"))
)


async def top_inviters(engine: AsyncEngine, *, limit: int) -> Sequence[Sequence[Any]]:
    """(id, phone, invite code, invited count) of the members with the most invitees.

    A scan of `member` (about 80 ms at 1M members): an index on `invited_count` would cost
    every activation its HOT update, and this is read only by the operator's stats."""
    return await _TOP_INVITERS.all(engine, limit=limit)


async def audit_events(
    engine: AsyncEngine,
    *,
    event_type: str | None,
    user_id: int | None,
    before_id: int | None,
    limit: int,
) -> Sequence[Any]:
    """Audit rows, newest first (id descending), filtered as given; all columns by name."""
    statement = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
    if event_type is not None:
        statement = statement.where(AUDIT.c.type == event_type)
    if user_id is not None:
        statement = statement.where(or_(AUDIT.c.actor_id == user_id, AUDIT.c.subject_id == user_id))
    if before_id is not None:
        statement = statement.where(AUDIT.c.id < before_id)
    async with _autocommit(engine) as connection:
        return (await connection.execute(statement)).all()
