"""The auth service's tables: who has signed in, by phone, and who is banned; the audit log;
and the webhook events to deliver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Identity, Index, Integer, String, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db.metadata import make_metadata
from common.db.types import UtcDateTime
from common.outbox import outbox_table

# SQLite numbers rows only through an INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")
MAX_BAN_REASON_LENGTH = 500


class Base(DeclarativeBase):
    metadata = make_metadata()


class User(Base):
    # `user` is a reserved word in PostgreSQL.
    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("length(phone) = 10", name="phone_length"),
        Index("ix_app_user_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(_ID, Identity(), primary_key=True)
    phone: Mapped[str] = mapped_column(String(10), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    last_login_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    # A ban is in force while banned_at is set and banned_until is null or still ahead.
    banned_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    banned_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ban_reason: Mapped[str | None] = mapped_column(String(MAX_BAN_REASON_LENGTH), nullable=True)
    # The operator who banned the user.
    banned_by: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)


class AuditEvent(Base):
    """Append-only: rows are inserted, never updated or deleted by the service."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject_id_id", "subject_id", "id"),
        Index("ix_audit_event_actor_id_id", "actor_id", "id"),
        Index("ix_audit_event_type_id", "type", "id"),
    )

    id: Mapped[int] = mapped_column(_ID, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    subject_id: Mapped[int | None] = mapped_column(BigInteger(), nullable=True)
    subject_phone: Mapped[str | None] = mapped_column(String(10), nullable=True)
    ip_hash: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql"), server_default="{}"
    )


# `user.registered` events, written in the registration's own statement (`repository`).
WEBHOOK_OUTBOX = outbox_table(Base.metadata)
