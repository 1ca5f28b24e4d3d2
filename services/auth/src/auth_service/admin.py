"""The operator console's logic: find users, a user's card, bans, unlocks, stats, the audit log.

Auth owns users, sessions, lockouts, bans and its audit log; referral's part of a user, its
stats and its audit events come from its internal admin routes (`referral_admin`), with the
operator's own token. A list page costs one indexed statement, one referral call for the
page's ids and one Redis pipeline for the lockouts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from auth_service import audit, referral_admin, repository
from auth_service.admin_schemas import (
    AuditItem,
    AuditPage,
    ChainLinkOut,
    InviteeOut,
    SessionOut,
    Stats,
    StatsDay,
    StatsTotals,
    TopInviterOut,
    UserCard,
    UserItem,
    UsersPage,
)
from auth_service.audit import Entry
from auth_service.errors import (
    CannotBanSelf,
    InvalidBan,
    InvalidCursor,
    InvalidPhone,
    InvalidQuery,
    InvalidType,
    UserNotFound,
)
from auth_service.phones import normalize_phone
from auth_service.referral_admin import Member, ReferralAdmin
from auth_service.repository import UserRow
from auth_service.service import AuthContext
from auth_service.sessions import SIGN_IN_BAR_SECONDS
from common.audit import Event

MAX_USER_ID = 2**63 - 1
PHONE_LENGTH = 10
MAX_QUERY_LENGTH = 64
MAX_CURSOR_LENGTH = 512
_QUERY_SEPARATORS = str.maketrans("", "", " +-()")
_DIGITS = re.compile(r"[0-9]+")
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")
# A range no phone is in: the search has no phone part.
_NO_PHONES = ("1", "0")


def parse_user_id(text: str) -> int | None:
    """A user id written canonically (1..2^63-1), else None."""
    if not _CANONICAL_ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_USER_ID else None


@dataclass(frozen=True, slots=True)
class Search:
    """What `q` asks for: phones in [low, high] and the user `exact_id` (0: none)."""

    low: str
    high: str
    exact_id: int


def parse_search(q: str | None) -> Search | None:
    """None for every user; InvalidQuery for anything but digits and phone punctuation.

    The digits are a phone prefix once a country code is dropped: a leading `+7` (`+7 999`
    searches 999...), or the 7 or 8 of eleven digits, as for a phone; at most 10 otherwise.
    Digits that are a user id also find that user.
    """
    text = (q or "").strip()
    international = text.startswith("+7")
    if international:
        text = text[2:]
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidQuery()
    digits = text.translate(_QUERY_SEPARATORS)
    if not digits:
        return None
    if not _DIGITS.fullmatch(digits):
        raise InvalidQuery()
    prefix: str | None = None
    if international and len(digits) <= PHONE_LENGTH:
        prefix = digits
    elif len(digits) == PHONE_LENGTH + 1 and digits[0] in "78":
        prefix = digits[1:]
    elif len(digits) <= PHONE_LENGTH:
        prefix = digits
    low, high = _NO_PHONES
    if prefix is not None:
        missing = PHONE_LENGTH - len(prefix)
        low, high = prefix + "0" * missing, prefix + "9" * missing
    exact_id = repository.NO_ID if international else parse_user_id(digits) or repository.NO_ID
    return Search(low=low, high=high, exact_id=exact_id)


def encode_cursor(position: Mapping[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The position a cursor holds; InvalidCursor for anything this service did not make."""
    if cursor is None:
        return None
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(position, dict):
        raise InvalidCursor()
    return position


def _cursor_id(position: Mapping[str, Any], key: str, *, allow_zero: bool = False) -> int | None:
    """The id under `key` (None: absent), checked to be one this service could have made."""
    value = position.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCursor()
    if not (0 if allow_zero else 1) <= value <= MAX_USER_ID:
        raise InvalidCursor()
    return value


def _members_fields(member: Member | None) -> dict[str, Any]:
    if member is None:
        return {"invite_code": None, "activated_invite_code": None, "invited_count": 0}
    return {
        "invite_code": member.invite_code,
        "activated_invite_code": member.activated_invite_code,
        "invited_count": member.invited_count,
    }


def _item_fields(
    user: UserRow, member: Member | None, locked_until: datetime | None, now: datetime
) -> dict[str, Any]:
    banned = user.banned(now)
    return {
        "id": user.id,
        "phone": user.phone,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        **_members_fields(member),
        "banned": banned,
        "banned_until": user.banned_until if banned else None,
        "ban_reason": user.ban_reason if banned else None,
        "locked_until": locked_until,
    }


async def _items(
    ctx: AuthContext, referral: ReferralAdmin, users: list[UserRow], *, token: str
) -> list[UserItem]:
    """The users with referral's data (one call) and their lockouts (one pipeline)."""
    members, locks = await asyncio.gather(
        referral.members([user.id for user in users], token=token),
        ctx.otps.locked_until([user.phone for user in users]),
    )
    now = datetime.now(UTC)
    return [
        UserItem(**_item_fields(user, members.get(user.id), locks.get(user.phone), now))
        for user in users
    ]


async def search_users(
    ctx: AuthContext,
    referral: ReferralAdmin,
    *,
    q: str | None,
    cursor: str | None,
    limit: int,
    token: str,
) -> UsersPage:
    """Every user newest first, or those a phone prefix or an id finds, by phone."""
    search = parse_search(q)
    position = decode_cursor(cursor)
    if search is None:
        before = MAX_USER_ID
        if position is not None:
            before = _cursor_id(position, "id") or 0
            if not before or set(position) != {"id"}:
                raise InvalidCursor()
        rows = await repository.newest_users(ctx.engine, before_id=before, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        following: dict[str, Any] | None = {"id": page[-1].id} if more else None
        return UsersPage(
            items=await _items(ctx, referral, page, token=token),
            next=encode_cursor(following) if following else None,
        )
    after = ""
    if position is not None:
        after = position.get("phone")  # type: ignore[assignment]
        if (
            set(position) != {"phone"}
            or not isinstance(after, str)
            or len(after) > PHONE_LENGTH
            or not (after == "" or after.isdigit())
        ):
            raise InvalidCursor()
    first_page = position is None
    rows = await repository.users_by_phone(
        ctx.engine,
        low=search.low,
        high=search.high,
        after=after,
        first_id=search.exact_id if first_page else repository.NO_ID,
        exclude_id=search.exact_id,
        limit=limit + 1,
    )
    exact = rows[:1] if first_page and rows and rows[0].id == search.exact_id else []
    by_phone = rows[len(exact) :]
    room = limit - len(exact)
    page, more = by_phone[:room], len(by_phone) > room
    following = {"phone": page[-1].phone if page else after} if more else None
    return UsersPage(
        items=await _items(ctx, referral, exact + page, token=token),
        next=encode_cursor(following) if following else None,
    )


async def _user(ctx: AuthContext, user_id: str | int) -> UserRow:
    parsed = user_id if isinstance(user_id, int) else parse_user_id(user_id)
    user = await repository.user_by_id(ctx.engine, parsed) if parsed else None
    if user is None:
        raise UserNotFound()
    return user


async def user_card(
    ctx: AuthContext, referral: ReferralAdmin, *, user_id: str, token: str
) -> UserCard:
    """The user, referral's tree around it, its live sessions and its lockout."""
    user = await _user(ctx, user_id)
    member, sessions, locks = await asyncio.gather(
        referral.member(user.id, token=token),
        ctx.sessions.of_user(user.id),
        ctx.otps.locked_until([user.phone]),
    )
    fields = _item_fields(user, member, locks.get(user.phone), datetime.now(UTC))
    return UserCard(
        **fields,
        inviter_chain=[
            ChainLinkOut(id=link.id, phone=link.phone, invite_code=link.invite_code)
            for link in (member.inviter_chain if member else [])
        ],
        invitees=[
            InviteeOut(id=invitee.id, phone=invitee.phone, activated_at=invitee.activated_at)
            for invitee in (member.invitees if member else [])
        ],
        invitees_next=member.invitees_next if member else None,
        active_sessions=len(sessions),
        sessions=[
            SessionOut(
                id=session.id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                user_agent=session.user_agent,
            )
            for session in sessions
        ],
    )


async def ban_user(
    ctx: AuthContext,
    referral: ReferralAdmin,
    *,
    user_id: str,
    admin_id: int,
    reason: str,
    until: datetime | None,
    client: str,
    token: str,
) -> UserItem:
    """Ban the user (its `ban` event with it), then end every session of it at once."""
    now = datetime.now(UTC)
    if until is not None and until <= now:
        raise InvalidBan("The end of a ban must be in the future.")
    user = await _user(ctx, user_id)
    if user.id == admin_id:
        raise CannotBanSelf()
    # Referral's part first: if it cannot answer, nothing has been done.
    members = await referral.members([user.id], token=token)
    banned = await repository.ban(
        ctx.engine,
        ctx.audit,
        user_id=user.id,
        admin_id=admin_id,
        reason=reason,
        until=until.astimezone(UTC) if until else None,
        ip=client,
    )
    if banned is None:
        raise UserNotFound()
    # Not past the ban's own end: a short ban must not outlast itself.
    bar = SIGN_IN_BAR_SECONDS if until is None else (until - now).total_seconds()
    await ctx.sessions.bar_sign_in(user.id, seconds=math.ceil(min(bar, SIGN_IN_BAR_SECONDS)))
    count = await ctx.sessions.revoke_all_of_user(user.id)
    await ctx.audit.write(
        Entry(
            audit.SESSIONS_REVOKED_ALL,
            admin_id,
            user.id,
            user.phone,
            {"count": count, "by": "admin"},
        ),
        ip=client,
    )
    locks = await ctx.otps.locked_until([user.phone])
    fields = _item_fields(banned, members.get(user.id), locks.get(user.phone), now)
    return UserItem(**fields)


async def unban_user(ctx: AuthContext, *, user_id: str, admin_id: int, client: str) -> None:
    parsed = parse_user_id(user_id)
    if parsed is None or not await repository.unban(
        ctx.engine, ctx.audit, user_id=parsed, admin_id=admin_id, ip=client
    ):
        raise UserNotFound()
    await ctx.sessions.lift_sign_in_bar(parsed)


async def unlock_phone(ctx: AuthContext, *, phone: str, admin_id: int, client: str) -> None:
    """Clear the phone's lockouts, failure counters and send caps; its `unlock` event."""
    normalized = normalize_phone(phone)
    if normalized is None:
        raise InvalidPhone()
    await ctx.otps.unlock(normalized)
    await ctx.audit.write(Entry(audit.UNLOCK, admin_id, subject_phone=normalized), ip=client)


def stats_days(days: int, today: date) -> list[date]:
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


async def stats(ctx: AuthContext, referral: ReferralAdmin, *, days: int, token: str) -> Stats:
    """The last `days` UTC days, today included: auth's counts and referral's."""
    series_days = stats_days(days, datetime.now(UTC).date())
    since = datetime.combine(series_days[0], time.min, UTC)
    events, new_users, sends, theirs, users = await asyncio.gather(
        ctx.audit.daily_counts(types=[audit.SIGN_IN_SUCCEEDED, audit.LOCKOUT], since=since),
        repository.new_users_per_day(ctx.engine, since=since),
        ctx.otps.sends_per_day(series_days),
        referral.stats(days, token=token),
        repository.count_users(ctx.engine),
    )
    referral_days = {day.date: day for day in theirs.series}
    series = []
    for day in series_days:
        key = day.isoformat()
        other = referral_days.get(day)
        series.append(
            StatsDay(
                date=day,
                sign_ins=events.get((key, audit.SIGN_IN_SUCCEEDED), 0),
                new_users=new_users.get(key, 0),
                otp_sends=sends.get(day, 0),
                lockouts=events.get((key, audit.LOCKOUT), 0),
                activations=other.activations if other else 0,
                refused=dict(other.refused) if other else {},
            )
        )
    by_reason: dict[str, int] = {}
    for entry in series:
        for reason, count in entry.refused.items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    totals = StatsTotals(
        sign_ins=sum(entry.sign_ins for entry in series),
        new_users=sum(entry.new_users for entry in series),
        otp_sends=sum(entry.otp_sends for entry in series),
        lockouts=sum(entry.lockouts for entry in series),
        activations=sum(entry.activations for entry in series),
        refused_activations=sum(by_reason.values()),
        users=users,
    )
    return Stats(
        days=days,
        **{"from": series_days[0]},
        to=series_days[-1],
        totals=totals,
        series=series,
        refused_by_reason=by_reason,
        top_inviters=[
            TopInviterOut(
                id=top.id,
                phone=top.phone,
                invite_code=top.invite_code,
                invited_count=top.invited_count,
            )
            for top in theirs.top_inviters
        ],
    )


def _item(source: str, event: Event) -> AuditItem:
    """An event of `source` ("auth" or "referral") as the console lists it: its id prefixed."""
    return AuditItem.model_validate(event.as_dict() | {"id": f"{source}-{event.id}"})


# The audit cursor: the position in each source, `a` (auth) and `r` (referral): the id the
# next page reads below; absent or null: from the newest; 0: nothing more there.
_SOURCES = ("a", "r")


def _next_position(position: int | None, fetched: list[int], used: int, limit: int) -> int | None:
    if used == len(fetched) and len(fetched) < limit:
        return 0
    return fetched[used - 1] if used else position


async def audit_page(
    ctx: AuthContext,
    referral: ReferralAdmin,
    *,
    type: str | None,
    user_id: int | None,
    cursor: str | None,
    limit: int,
    token: str,
) -> AuditPage:
    """Both audit logs merged newest first; a type filter asks only the source writing it."""
    if type is not None and type not in audit.TYPES | referral_admin.TYPES:
        raise InvalidType()
    position = decode_cursor(cursor) or {}
    if set(position) - set(_SOURCES):
        raise InvalidCursor()
    auth_at = _cursor_id(position, "a", allow_zero=True)
    referral_at = _cursor_id(position, "r", allow_zero=True)
    if cursor is not None and auth_at == 0 and referral_at == 0:
        raise InvalidCursor()
    read_auth = (type is None or type in audit.TYPES) and auth_at != 0
    read_referral = (type is None or type in referral_admin.TYPES) and referral_at != 0

    async def nothing() -> list[Any]:
        return []

    ours, theirs = await asyncio.gather(
        ctx.audit.page(
            types=[type] if type else None, user_id=user_id, before_id=auth_at, limit=limit
        )
        if read_auth
        else nothing(),
        referral.audit(token=token, type=type, user_id=user_id, before_id=referral_at, limit=limit)
        if read_referral
        else nothing(),
    )
    items: list[AuditItem] = []
    used_ours = used_theirs = 0
    while len(items) < limit and (used_ours < len(ours) or used_theirs < len(theirs)):
        take_ours = used_theirs >= len(theirs) or (
            used_ours < len(ours) and ours[used_ours].at >= theirs[used_theirs].at
        )
        if take_ours:
            items.append(_item("auth", ours[used_ours]))
            used_ours += 1
        else:
            items.append(_item("referral", theirs[used_theirs]))
            used_theirs += 1
    following = {
        "a": _next_position(auth_at, [r.id for r in ours], used_ours, limit) if read_auth else 0,
        "r": _next_position(referral_at, [r.id for r in theirs], used_theirs, limit)
        if read_referral
        else 0,
    }
    more = any(value != 0 for value in following.values())
    return AuditPage(items=items, next=encode_cursor(following) if more else None)
