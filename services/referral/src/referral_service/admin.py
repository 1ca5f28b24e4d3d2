"""What the operator console reads from the referral service: members, their chain of
inviters and invitees, daily activation counts, the top inviters and the audit log."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from common.audit import Event
from referral_service import audit, repository
from referral_service.cursor import encode_cursor
from referral_service.errors import MemberNotFound
from referral_service.service import Invitee

TOP_INVITERS = 10


@dataclass(frozen=True, slots=True)
class MemberSummary:
    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_count: int


@dataclass(frozen=True, slots=True)
class ChainLink:
    id: int
    phone: str
    invite_code: str


@dataclass(frozen=True, slots=True)
class MemberCard:
    member: MemberSummary
    # The direct inviter first, up to the root; at most repository.CHAIN_DEPTH.
    inviter_chain: list[ChainLink]
    invitees: list[Invitee]
    # The cursor of the invitee list's next page (`GET /referral_system/api_invited_users/`
    # reads the same cursors), or None.
    invitees_next: str | None


@dataclass(frozen=True, slots=True)
class DayCounts:
    date: date
    activations: int
    # Refused activations by the error code answered; reasons without any are left out.
    refused: dict[str, int]


@dataclass(frozen=True, slots=True)
class Inviter:
    id: int
    phone: str
    invite_code: str
    invited_count: int


@dataclass(frozen=True, slots=True)
class Stats:
    series: list[DayCounts]
    top_inviters: list[Inviter]


async def members(engine: AsyncEngine, *, user_ids: Sequence[int]) -> list[MemberSummary]:
    """The members among `user_ids`, by id; users the service has never seen are left out."""
    rows = await repository.members(engine, sorted(set(user_ids)))
    return [MemberSummary(*row) for row in rows]


async def member_card(engine: AsyncEngine, *, user_id: int, page_size: int) -> MemberCard:
    """The member, its inviters up to the root and the first page of its invitees.

    Two statements: the member with its chain (one recursive walk), then the page, read as
    the public invitee list reads it.
    """
    rows = await repository.member_and_chain(engine, user_id)
    if not rows or rows[0][0] != 0:
        raise MemberNotFound()
    _, _, _, invite_code, invited_count, activated_invite_code = rows[0]
    chain = [ChainLink(id=row[1], phone=row[2], invite_code=row[3]) for row in rows[1:]]
    page = await repository.invitees(engine, inviter_id=user_id, limit=page_size + 1, before=None)
    invitees = [Invitee(id=row[0], phone=row[1], activated_at=row[2]) for row in page[:page_size]]
    last = invitees[-1] if len(page) > page_size else None
    return MemberCard(
        member=MemberSummary(user_id, invite_code, activated_invite_code, invited_count),
        inviter_chain=chain,
        invitees=invitees,
        invitees_next=encode_cursor(last.activated_at, last.id) if last else None,
    )


async def stats(engine: AsyncEngine, *, days: int, today: date | None = None) -> Stats:
    """Activations and refusals (by reason) of each of the last `days` UTC days, today
    included, oldest first and days without any as zeros; and the top inviters."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tzinfo=UTC)
    activations: Counter[date] = Counter()
    refused: defaultdict[date, dict[str, int]] = defaultdict(dict)
    for day, event_type, reason, count in await repository.activation_counts(engine, since=since):
        if event_type == audit.ACTIVATION_SUCCEEDED:
            activations[_as_date(day)] += count
        elif reason is not None:
            refused[_as_date(day)][reason] = count
    inviters = await repository.top_inviters(engine, limit=TOP_INVITERS)
    return Stats(
        series=[
            DayCounts(day, activations[day], refused.get(day, {}))
            for day in (first + timedelta(days=n) for n in range(days))
        ],
        top_inviters=[Inviter(*row) for row in inviters],
    )


def _as_date(day: date | str) -> date:
    """A day as PostgreSQL (a date) or SQLite (ISO text) answers it."""
    return day if isinstance(day, date) else date.fromisoformat(day)


async def audit_log(
    engine: AsyncEngine,
    *,
    event_type: str | None,
    user_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Event]:
    """Audit rows, newest first; with `before_id`, those older than that row."""
    rows = await repository.audit_events(
        engine, event_type=event_type, user_id=user_id, before_id=before_id, limit=limit
    )
    return [Event.of_row(row) for row in rows]
