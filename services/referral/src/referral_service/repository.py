"""Every query the referral service makes; works on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Row, cast, exists, func, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from referral_service.models import Activation, Member


def get_member(session: Session, user_id: int) -> Member | None:
    return session.get(Member, user_id)


def member_by_code(session: Session, invite_code: str) -> Member | None:
    return session.scalars(select(Member).where(Member.invite_code == invite_code)).one_or_none()


def insert_member(
    session: Session, *, user_id: int, phone: str, invite_code: str, created_at: datetime
) -> None:
    """Insert, unless the user or the code exists (a concurrent first sight, a code collision)."""
    dialect = postgresql if _is_postgresql(session) else sqlite
    statement = (
        dialect.insert(Member)
        .values(user_id=user_id, phone=phone, invite_code=invite_code, created_at=created_at)
        .on_conflict_do_nothing()
    )
    session.execute(statement)


def get_activation(session: Session, invitee_id: int) -> Activation | None:
    return session.get(Activation, invitee_id)


# Far deeper than any real referral chain; only corrupt data (a cycle) could reach it.
MAX_CHAIN_DEPTH = 10_000_000


def root_of(session: Session, user_id: int) -> int:
    """The top of the user's referral tree: follow inviters up until someone has none.

    One primary-key probe per level; the depth bound keeps even corrupt data from looping.
    """
    start = select(
        cast(literal(user_id), BigInteger).label("user_id"), literal(0).label("depth")
    ).cte("chain", recursive=True)
    chain = start.union_all(
        select(Activation.inviter_id, start.c.depth + 1)
        .join(start, Activation.invitee_id == start.c.user_id)
        .where(start.c.depth < MAX_CHAIN_DEPTH)
    )
    top = select(chain.c.user_id).order_by(chain.c.depth.desc()).limit(1)
    root: int = session.execute(top).scalar_one()
    return root


def has_invitees(session: Session, user_id: int) -> bool:
    return bool(session.execute(select(exists().where(Activation.inviter_id == user_id))).scalar())


def lock_users(session: Session, user_ids: Iterable[int]) -> None:
    """Transaction-scoped advisory locks, in ascending order so two lockers cannot deadlock.

    SQLite needs none: every transaction there already holds the write lock from its start.
    """
    if not _is_postgresql(session):
        return
    for user_id in sorted(set(user_ids)):
        session.execute(select(func.pg_advisory_xact_lock(user_id)))


def insert_activation(
    session: Session, *, invitee_id: int, inviter_id: int, invite_code: str, activated_at: datetime
) -> Activation:
    activation = Activation(
        invitee_id=invitee_id,
        inviter_id=inviter_id,
        invite_code=invite_code,
        activated_at=activated_at,
    )
    session.add(activation)
    session.flush()
    return activation


def increment_invited_count(session: Session, user_id: int) -> None:
    session.execute(
        update(Member)
        .where(Member.user_id == user_id)
        .values(invited_count=Member.invited_count + 1)
    )


def invitees(
    session: Session, *, inviter_id: int, limit: int, before: tuple[datetime, int] | None
) -> Sequence[Row[int, str, datetime]]:
    """Newest first, strictly after the keyset position `before` when given."""
    statement = (
        select(Activation.invitee_id, Member.phone, Activation.activated_at)
        .join(Member, Member.user_id == Activation.invitee_id)
        .where(Activation.inviter_id == inviter_id)
        .order_by(Activation.activated_at.desc(), Activation.invitee_id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(tuple_(Activation.activated_at, Activation.invitee_id) < before)
    return session.execute(statement).all()


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
