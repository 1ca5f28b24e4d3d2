"""Every query of the auth service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth_service.models import User


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    phone: str


@dataclass(frozen=True, slots=True)
class SignIn:
    user: UserRecord
    is_new: bool


def record_sign_in(session: Session, *, phone: str) -> SignIn:
    """Register the phone on its first sign-in, else note the sign-in; safe under concurrency.

    INSERT ... ON CONFLICT DO NOTHING lets exactly one of any concurrent first sign-ins
    create the row; the others wait for it on the unique index and then update it.
    """
    now = datetime.now(UTC)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created = session.execute(
        dialect.insert(User)
        .values(phone=phone, created_at=now, last_login_at=now)
        .on_conflict_do_nothing(index_elements=[User.phone])
        .returning(User.id)
    ).scalar_one_or_none()
    if created is not None:
        return SignIn(UserRecord(id=created, phone=phone), is_new=True)
    existing = session.execute(
        update(User).where(User.phone == phone).values(last_login_at=now).returning(User.id)
    ).scalar_one()
    return SignIn(UserRecord(id=existing, phone=phone), is_new=False)


def get_user(session: Session, user_id: int) -> UserRecord | None:
    row = session.execute(select(User.id, User.phone).where(User.id == user_id)).one_or_none()
    return UserRecord(id=row.id, phone=row.phone) if row else None
