"""Tables: one `member` per user seen with a valid token, one `activation` per invited user.

`member.phone` is copied from the verified access token's `phone` claim: the token is signed
by auth, and keeping the phone here lets the invitee list be one indexed query instead of a
call to auth for every row. Auth never changes a user's phone, so the copy cannot go stale.

`member.root_id` is the top of the member's referral tree (the member itself until it activates
a code), kept by the activation that changes it, so the cycle check is one lookup however
deep the tree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db.metadata import make_metadata
from referral_service.codes import CODE_LENGTH


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores no zone; timestamptz does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite compares the stored text, so every row must be written in one zone and format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = make_metadata()


class Member(Base):
    __tablename__ = "member"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    phone: Mapped[str] = mapped_column(String(32))
    invite_code: Mapped[str] = mapped_column(CHAR(CODE_LENGTH), unique=True)
    # Kept by the activation transaction so that a profile never has to COUNT its invitees.
    invited_count: Mapped[int] = mapped_column(Integer, server_default="0")
    root_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Activation(Base):
    __tablename__ = "activation"
    __table_args__ = (CheckConstraint("invitee_id <> inviter_id", name="not_self"),)

    # The primary key is what makes "one activation per user, ever" true under any race.
    invitee_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("member.user_id"), primary_key=True, autoincrement=False
    )
    inviter_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("member.user_id"))
    invite_code: Mapped[str] = mapped_column(CHAR(CODE_LENGTH))
    activated_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The invitee list's keyset order, newest first: one index range scan per page.
Index(
    "ix_activation_inviter_id_activated_at_invitee_id",
    Activation.inviter_id,
    Activation.activated_at.desc(),
    Activation.invitee_id.desc(),
)
