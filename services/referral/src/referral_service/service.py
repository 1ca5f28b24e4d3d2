"""The referral rules: members and their codes, activations, the invitee list, the profile."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from common import profile_documents
from common.errors import AppError
from referral_service import audit, repository
from referral_service.codes import CodeGenerator, new_invite_code
from referral_service.cursor import decode_cursor, encode_cursor
from referral_service.errors import (
    InvalidLimit,
    InviteCodeAlreadyActivated,
    InviteCodeNotFound,
    InviteCodesExhausted,
    OwnInviteCode,
    ReferralCycle,
)
from referral_service.limits import ActivationFailures
from referral_service.repository import MemberRecord, Outcome

logger = logging.getLogger(__name__)

INVITED_USERS_PATH = "/referral_system/api_invited_users/"
# With 62**6 codes a single collision is already rare; this many in a row means a broken generator.
MAX_CODE_DRAWS = 10
# Invitees read per statement by the CSV export: a few hundred kilobytes of CSV, well within
# the statement timeout, and no connection held while the client reads them.
EXPORT_BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class Invitee:
    id: int
    phone: str
    activated_at: datetime


@dataclass(frozen=True, slots=True)
class InviteePage:
    items: list[Invitee]
    next_url: str | None


@dataclass(frozen=True, slots=True)
class Activation:
    invite_code: str
    activated_at: datetime


@dataclass(frozen=True, slots=True)
class ReferralProfile:
    """What the profile shows about the member's referrals."""

    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_count: int
    first_page: InviteePage


async def ensure_member(
    engine: AsyncEngine,
    *,
    user_id: int,
    phone: str,
    generate_code: CodeGenerator = new_invite_code,
) -> MemberRecord:
    """The user's member row, created with a fresh invite code the first time the user is seen."""
    member = await repository.get_member(engine, user_id)
    if member is not None:
        return member
    for _ in range(MAX_CODE_DRAWS):
        await repository.insert_member(
            engine, user_id=user_id, phone=phone, invite_code=generate_code(), created_at=_now()
        )
        # There if we inserted it or a concurrent first request did; absent if the code was taken.
        member = await repository.get_member(engine, user_id)
        if member is not None:
            return member
    raise InviteCodesExhausted(f"{MAX_CODE_DRAWS} invite codes in a row were already taken")


async def activate_invite_code(
    engine: AsyncEngine,
    redis: Redis,
    failures: ActivationFailures,
    *,
    user_id: int,
    phone: str,
    invite_code: str,
    origin: audit.Origin = repository.NO_ORIGIN,
) -> Activation:
    """Activate someone else's code: once per user, ever, and never closing a cycle.

    Repeating one's own successful activation with the same code answers as the first time.
    After the change is committed the profiles it touches (the invitee's and the inviter's)
    are invalidated, before the caller hears of it. Every refusal counts towards the user's
    hourly cap (`failures`), which the caller checked before. The attempt's audit row, from
    `origin`, is written with it (`repository.activate`).
    """
    try:
        return await _activate(
            engine, redis, user_id=user_id, phone=phone, invite_code=invite_code, origin=origin
        )
    except AppError:
        await failures.count(user_id)
        raise


async def _activate(
    engine: AsyncEngine,
    redis: Redis,
    *,
    user_id: int,
    phone: str,
    invite_code: str,
    origin: audit.Origin,
) -> Activation:
    result = await repository.activate(
        engine, invitee_id=user_id, invite_code=invite_code, now=_now(), origin=origin
    )
    if result.outcome is Outcome.NO_MEMBER:
        await ensure_member(engine, user_id=user_id, phone=phone)
        result = await repository.activate(
            engine, invitee_id=user_id, invite_code=invite_code, now=_now(), origin=origin
        )
    match result.outcome:
        case Outcome.NOT_FOUND:
            raise InviteCodeNotFound()
        case Outcome.OWN_CODE:
            raise OwnInviteCode()
        case Outcome.ALREADY_ACTIVATED:
            raise InviteCodeAlreadyActivated(str(result.invite_code))
        case Outcome.CYCLE:
            raise ReferralCycle()
        case Outcome.ACTIVATED | Outcome.REPEATED:
            assert result.invite_code and result.activated_at and result.inviter_id
            # A repeat invalidates too: it heals an invalidation the first attempt lost.
            await _invalidate_profiles(redis, (user_id, result.inviter_id))
            return Activation(invite_code=result.invite_code, activated_at=result.activated_at)
    raise AssertionError(f"unexpected activation outcome {result.outcome}")


async def record_refused_activation(
    engine: AsyncEngine, *, user_id: int, reason: str, invite_code: object, origin: audit.Origin
) -> None:
    """The audit row of an activation refused before it reached the database (429, 422)."""
    detail = audit.refusal_detail(reason, invite_code)
    row = repository.audit_row(audit.ACTIVATION_REFUSED, user_id, origin, detail, at=_now())
    await repository.insert_audit_event(engine, row)


async def _invalidate_profiles(redis: Redis, user_ids: tuple[int, ...]) -> None:
    try:
        await profile_documents.invalidate(redis, user_ids)
    except RedisError:
        # The change is committed and will be answered as such; a stored profile may show the
        # old state until its TTL ends (or until a repeat of this request invalidates it).
        logger.exception("profile invalidation failed", extra={"user_ids": list(user_ids)})


def page_limit(limit: int | None, *, maximum: int) -> int:
    if limit is None:
        return maximum
    if not 1 <= limit <= maximum:
        raise InvalidLimit(maximum)
    return limit


def _next_url(last: Invitee, limit: int) -> str:
    cursor = encode_cursor(last.activated_at, last.id)
    return f"{INVITED_USERS_PATH}?{urlencode({'limit': limit, 'cursor': cursor})}"


async def invited_users(
    engine: AsyncEngine, *, inviter_id: int, limit: int, cursor: str | None = None
) -> InviteePage:
    """One page of the people who activated this user's code, newest first.

    Keyset pagination on (activated_at, invitee_id): a page continues strictly after the
    last row shown, so invitees who arrive meanwhile appear on the first page and never
    shift or repeat rows on the following ones.
    """
    before = decode_cursor(cursor) if cursor is not None else None
    rows = await repository.invitees(engine, inviter_id=inviter_id, limit=limit + 1, before=before)
    items = [Invitee(id=row[0], phone=row[1], activated_at=row[2]) for row in rows[:limit]]
    more = len(rows) > limit
    return InviteePage(items=items, next_url=_next_url(items[-1], limit) if more else None)


async def invitee_export(
    engine: AsyncEngine, *, inviter_id: int, batch_size: int = EXPORT_BATCH_SIZE
) -> AsyncIterator[list[Invitee]]:
    """Every invitee of this user, newest first, `batch_size` at a time; the last batch is short.

    The first batch is read before this returns, so a database that does not answer is an
    error the caller can still answer with (503), not a broken download. Each batch is one
    keyset statement after the previous batch's last row, as the pages are: no connection or
    transaction is held while the caller sends a batch on, and invitees who arrive meanwhile
    (newer than the first row) neither shift nor repeat rows.
    """
    first = await _invitee_batch(engine, inviter_id, batch_size, before=None)
    return _invitee_batches(engine, inviter_id, batch_size, first)


async def _invitee_batches(
    engine: AsyncEngine, inviter_id: int, batch_size: int, batch: list[Invitee]
) -> AsyncIterator[list[Invitee]]:
    while batch:
        yield batch
        if len(batch) < batch_size:
            return
        last = batch[-1]
        batch = await _invitee_batch(
            engine, inviter_id, batch_size, before=(last.activated_at, last.id)
        )


async def _invitee_batch(
    engine: AsyncEngine, inviter_id: int, limit: int, *, before: tuple[datetime, int] | None
) -> list[Invitee]:
    rows = await repository.invitees(engine, inviter_id=inviter_id, limit=limit, before=before)
    return [Invitee(id=row[0], phone=row[1], activated_at=row[2]) for row in rows]


async def profile(engine: AsyncEngine, *, user_id: int, phone: str, limit: int) -> ReferralProfile:
    """The member's code, activated code, count and first page; a new user becomes a member."""
    rows = await repository.profile_rows(engine, user_id=user_id, limit=limit + 1)
    if not rows:
        await ensure_member(engine, user_id=user_id, phone=phone)
        rows = await repository.profile_rows(engine, user_id=user_id, limit=limit + 1)
    invite_code, invited_count, activated_invite_code = rows[0][:3]
    items = [Invitee(id=row[3], phone=row[4], activated_at=row[5]) for row in rows if row[3]]
    more = len(items) > limit
    first_page = InviteePage(
        items=items[:limit], next_url=_next_url(items[limit - 1], limit) if more else None
    )
    return ReferralProfile(
        user_id=user_id,
        invite_code=invite_code,
        activated_invite_code=activated_invite_code,
        invited_count=invited_count,
        first_page=first_page,
    )


def _now() -> datetime:
    return datetime.now(UTC)
