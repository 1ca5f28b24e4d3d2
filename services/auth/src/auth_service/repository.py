"""Every query of the auth service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, literal_column, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.models import User
from common.db.engine import transaction

USER = cast(Table, User.__table__)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    phone: str


@dataclass(frozen=True, slots=True)
class SignIn:
    user: UserRecord
    is_new: bool


async def record_sign_in(engine: AsyncEngine, *, phone: str) -> SignIn:
    """Register the phone on its first sign-in, else note the sign-in; safe under concurrency.

    On PostgreSQL one upsert does both, and `xmax = 0` tells a row it inserted from one it
    updated. On SQLite, where transactions hold the write lock from their start, an insert
    that does nothing on a conflict is followed by the update.
    """
    now = datetime.now(UTC)
    if engine.dialect.name == "postgresql":
        upsert = postgresql.insert(User).values(phone=phone, created_at=now, last_login_at=now)
        statement = upsert.on_conflict_do_update(
            index_elements=[USER.c.phone], set_={"last_login_at": now}
        ).returning(USER.c.id, literal_column("xmax = 0"))
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            user_id, inserted = (await connection.execute(statement)).one()
        return SignIn(UserRecord(id=user_id, phone=phone), is_new=bool(inserted))
    async with transaction(engine) as connection:
        created = await connection.scalar(
            sqlite.insert(User)
            .values(phone=phone, created_at=now, last_login_at=now)
            .on_conflict_do_nothing(index_elements=[USER.c.phone])
            .returning(USER.c.id)
        )
        if created is not None:
            return SignIn(UserRecord(id=created, phone=phone), is_new=True)
        existing = await connection.scalar(
            update(USER).where(USER.c.phone == phone).values(last_login_at=now).returning(USER.c.id)
        )
    assert existing is not None  # the insert found the phone taken, under this write lock
    return SignIn(UserRecord(id=int(existing), phone=phone), is_new=False)
