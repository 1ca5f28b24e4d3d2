"""Request dependencies and the one place a database transaction is opened and committed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from common.security import Principal, check_same_origin
from referral_service import repository, service
from referral_service.config import ReferralSettings
from referral_service.models import Member


async def get_settings(request: Request) -> ReferralSettings:
    settings: ReferralSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ReferralSettings, Depends(get_settings)]


async def same_origin(request: Request, settings: SettingsDep) -> None:
    check_same_origin(request, settings.allowed_origins)


@contextmanager
def member_transaction(engine: Engine, principal: Principal) -> Iterator[tuple[Session, Member]]:
    """The caller's member row and a transaction for the request, committed on success.

    A new member row is committed first, on its own: a user is a member from the first
    authenticated request on, even if the rest of that request fails. Every later request
    finds its row and runs in one transaction.

    Used inside the route, like `common.db.transaction` and for the same reason.
    """
    with Session(engine, expire_on_commit=False) as session:
        member = repository.get_member(session, principal.user_id)
        if member is None:
            member = service.ensure_member(
                session, user_id=principal.user_id, phone=principal.phone
            )
            session.commit()
        yield session, member
        # Reached only without an error; on one, closing the session rolls the work back.
        session.commit()
