"""The share link's statements: record a visit, and read a member's funnel.

Kept apart from `repository` (the activation and the invitee list): neither touches the other's
tables except to read `member`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CHAR, Select, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db.engine import transaction
from common.db.query import Query
from referral_service.codes import CODE_LENGTH
from referral_service.models import InviteFunnel, InviteVisit, InviteVisitor, Member

MEMBER = cast(Table, Member.__table__)
VISIT = cast(Table, InviteVisit.__table__)
VISITOR = cast(Table, InviteVisitor.__table__)
FUNNEL = cast(Table, InviteFunnel.__table__)


@dataclass(frozen=True, slots=True)
class Visit:
    ip_hash: bytes
    window_start: datetime
    visited_at: datetime
    ua_family: str


# The code's type is the column's (char(6)), so that the unique index finds the owner.
_CODE = bindparam("code", type_=CHAR(CODE_LENGTH))
_IP_HASH = bindparam("ip_hash", type_=VISIT.c.ip_hash.type)
_VISITED_AT = bindparam("visited_at", type_=VISIT.c.visited_at.type)
_OWNER = select(MEMBER.c.user_id).where(MEMBER.c.invite_code == _CODE)


def _add_to_funnel(dialect: Any) -> Any:
    """The member's counts plus one visit and :new_visitors visitors (its first row, else)."""
    statement = dialect.insert(FUNNEL)
    return statement.on_conflict_do_update(
        index_elements=[FUNNEL.c.member_id],
        set_={
            # Literal SQL: a Query takes only the parameters its callers name.
            "visits": FUNNEL.c.visits + literal_column("1"),
            "unique_visitors": FUNNEL.c.unique_visitors + statement.excluded.unique_visitors,
        },
    )


def _record() -> Any:
    """PostgreSQL: the whole visit in one statement, whose answer is the code's owner.

    Its parts see one snapshot and run together: the visit is inserted unless this visitor
    already has one for this code in this window; only a visit inserted adds the visitor (unless
    known) and counts, so a repeat within the window writes nothing. No row: no such code.
    """
    owner = _OWNER.cte("owner")
    visit = (
        postgresql.insert(VISIT)
        .from_select(
            ["member_id", "ip_hash", "window_start", "visited_at", "ua_family"],
            select(
                owner.c.user_id,
                _IP_HASH,
                bindparam("window_start", type_=VISIT.c.window_start.type),
                _VISITED_AT,
                bindparam("ua_family", type_=VISIT.c.ua_family.type),
            ),
        )
        .on_conflict_do_nothing()
        .returning(VISIT.c.member_id)
        .cte("visit")
    )
    visitor = (
        postgresql.insert(VISITOR)
        .from_select(
            ["member_id", "ip_hash", "first_visit_at"],
            select(visit.c.member_id, _IP_HASH, _VISITED_AT),
        )
        .on_conflict_do_nothing()
        .returning(VISITOR.c.member_id)
        .cte("visitor")
    )
    counted = (
        _add_to_funnel(postgresql)
        .from_select(
            ["member_id", "visits", "unique_visitors"],
            select(
                visit.c.member_id,
                literal_column("1"),
                select(func.count()).select_from(visitor).scalar_subquery(),
            ),
        )
        .cte("counted")
    )
    return select(owner.c.user_id).add_cte(visit, visitor, counted)


_RECORD = Query(_record())


async def record_visit(engine: AsyncEngine, *, invite_code: str, visit: Visit) -> int | None:
    """Record a visit to `invite_code`'s share link; the code's owner, or None (nothing recorded).

    A visitor is recorded at most once per code and window (`visit.window_start`): a repeat
    writes nothing. One statement on PostgreSQL; on SQLite (the single process) the same steps
    in one write transaction.
    """
    parameters = {
        "ip_hash": visit.ip_hash,
        "window_start": visit.window_start,
        "visited_at": visit.visited_at,
        "ua_family": visit.ua_family,
    }
    if engine.dialect.name == "postgresql":
        row = await _RECORD.first(engine, code=invite_code, **parameters)
        return int(row[0]) if row else None
    async with transaction(engine) as connection:
        owner = await connection.scalar(_OWNER, {"code": invite_code})
        if owner is None:
            return None
        inserted = await connection.execute(
            sqlite.insert(VISIT).values(member_id=owner, **parameters).on_conflict_do_nothing()
        )
        if inserted.rowcount:
            new_visitor = await connection.execute(
                sqlite.insert(VISITOR)
                .values(member_id=owner, ip_hash=visit.ip_hash, first_visit_at=visit.visited_at)
                .on_conflict_do_nothing()
            )
            await connection.execute(
                _add_to_funnel(sqlite).values(
                    member_id=owner, visits=1, unique_visitors=new_visitor.rowcount
                )
            )
        return cast(int, owner)


_CODE_EXISTS = Query(_OWNER)


async def code_exists(engine: AsyncEngine, invite_code: str) -> bool:
    return await _CODE_EXISTS.first(engine, code=invite_code) is not None


def _funnel() -> Select[Any]:
    """The member's code and activation count, and its funnel's counts: two primary-key lookups."""
    return (
        select(
            MEMBER.c.invite_code,
            MEMBER.c.invited_count,
            func.coalesce(FUNNEL.c.visits, literal_column("0")),
            func.coalesce(FUNNEL.c.unique_visitors, literal_column("0")),
        )
        .select_from(MEMBER)
        .outerjoin(FUNNEL, FUNNEL.c.member_id == MEMBER.c.user_id)
        .where(MEMBER.c.user_id == bindparam("user_id"))
    )


_FUNNEL = Query(_funnel())


async def funnel(engine: AsyncEngine, user_id: int) -> Sequence[Any] | None:
    """(invite code, activations, visits, unique visitors), or None when there is no member."""
    return await _FUNNEL.first(engine, user_id=user_id)
