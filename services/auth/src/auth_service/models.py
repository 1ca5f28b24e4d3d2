"""The auth service's tables: who has signed in, by phone; and the webhook events to deliver."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db.metadata import make_metadata
from common.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = make_metadata()


class User(Base):
    # `user` is a reserved word in PostgreSQL.
    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint("length(phone) = 10", name="phone_length"),)

    # SQLite numbers rows only through an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(10), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


# `user.registered` events, written in the registration's own statement (`repository`).
WEBHOOK_OUTBOX = outbox_table(Base.metadata)
