"""Tables: one `member` per user seen with a valid token, one `activation` per invited user.

`member.phone` is copied from the verified access token's `phone` claim: the token is signed
by auth, and keeping the phone here lets the invitee list be one indexed query instead of a
call to auth for every row. Auth never changes a user's phone, so the copy cannot go stale.

`invite_visit` holds the visits to members' share links (`GET /i/{code}`): one row per code's
owner, visitor and time window, the visitor being a keyed hash of its IP address.
`invite_visitor` holds each member's visitors once and `invite_funnel` the member's counts of
both, kept by the statement that records a visit.

`audit_event` is the service's audit log: each activation and each refused one, with who asked,
a keyed hash of their IP address and the request id. Rows are only ever inserted.

`member.root_id` is the top of the member's referral tree (the member itself until it activates
a code), kept by the activation that changes it, so the cycle check is one lookup however
deep the tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db.metadata import make_metadata
from common.db.types import UtcDateTime
from common.outbox import outbox_table
from referral_service.codes import CODE_LENGTH


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


class InviteVisit(Base):
    """A visit to a member's share link; the primary key bounds what a flood can add."""

    __tablename__ = "invite_visit"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("member.user_id"), primary_key=True, autoincrement=False
    )
    # HMAC-SHA-256 of the client's address (an IPv6 client's /64), cut to 16 bytes.
    ip_hash: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    # The start of the window the visit fell in: one row per visitor and code per window.
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The user agent's family as ua-parser names it ("Chrome", "Mobile Safari", "Other").
    ua_family: Mapped[str] = mapped_column(String(32))


class InviteVisitor(Base):
    """Each visitor of a member's share link, once: what makes a unique visitor count once."""

    __tablename__ = "invite_visitor"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("member.user_id"), primary_key=True, autoincrement=False
    )
    ip_hash: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    first_visit_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InviteFunnel(Base):
    """A member's counts of recorded visits and of visitors; no row before the first visit."""

    __tablename__ = "invite_funnel"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("member.user_id"), primary_key=True, autoincrement=False
    )
    visits: Mapped[int] = mapped_column(BigInteger)
    unique_visitors: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(Base):
    """One audited fact; the table is append-only (nothing updates or deletes a row)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_phone: Mapped[str | None] = mapped_column(String(10))
    # HMAC-SHA-256 of the client's IP address under AUDIT_HASH_KEY, its first 16 bytes in hex.
    ip_hash: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), server_default=text("'{}'")
    )


# A user's events, newest first, whether the user acted or was acted on; one type's events.
Index("ix_audit_event_subject_id_id", AuditEvent.subject_id, AuditEvent.id)
Index("ix_audit_event_actor_id_id", AuditEvent.actor_id, AuditEvent.id)
Index("ix_audit_event_type_id", AuditEvent.type, AuditEvent.id)
# The days of the statistics. Rows arrive in time order, so on PostgreSQL a block range index
# finds them at almost no cost per insert.
Index(
    "ix_audit_event_at",
    AuditEvent.at,
    postgresql_using="brin",
    postgresql_with={"autosummarize": "on"},
)


# `referral.activated` events (migration 0004), written by the activation's own transaction
# (`repository.activate`).
WEBHOOK_OUTBOX = outbox_table(Base.metadata)
