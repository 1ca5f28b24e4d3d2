"""Members and their invite codes: created on first sight, once, with a unique code."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from referral_service import service
from referral_service.codes import ALPHABET, CODE_LENGTH
from referral_service.deps import ReferralState
from referral_service.errors import InviteCodesExhausted
from referral_service.models import Member

# call(async_function, *args, **kwargs) on the app's event loop (the `call` fixture).
Call = Callable[..., Any]

INVITED = "/referral_system/api_invited_users/"
PROFILE = "/internal/referral/profile"

Bearer = Callable[[int], dict[str, str]]


pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


def member_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def test_first_authenticated_request_creates_the_member(
    client: TestClient, bearer: Bearer, engine: Engine
) -> None:
    body = client.get(PROFILE, headers=bearer(42)).json()

    assert body["user_id"] == 42
    assert len(body["invite_code"]) == CODE_LENGTH
    assert set(body["invite_code"]) <= set(ALPHABET)
    assert body == {
        "user_id": 42,
        "invite_code": body["invite_code"],
        "activated_invite_code": None,
        "invited_users": [],
        "invited_count": 0,
        "invited_users_next": None,
    }
    with Session(engine) as session:
        member = session.get(Member, 42)
        assert member is not None
        assert member.phone == "9000000042"


def test_the_code_never_changes_and_each_user_has_their_own(
    client: TestClient, bearer: Bearer, engine: Engine
) -> None:
    client.get(INVITED, headers=bearer(1))  # any authenticated request makes a member
    codes = {
        user_id: client.get(PROFILE, headers=bearer(user_id)).json()["invite_code"]
        for user_id in (1, 2, 3)
    }

    assert client.get(PROFILE, headers=bearer(1)).json()["invite_code"] == codes[1]
    assert len(set(codes.values())) == 3
    assert member_count(engine) == 3


def test_a_colliding_code_is_drawn_again(call: Call, state: ReferralState) -> None:
    draws = iter(["Taken1", "Taken1", "Fresh2"])
    first = call(
        service.ensure_member,
        state.engine,
        user_id=1,
        phone="9000000001",
        generate_code=lambda: next(draws),
    )
    second = call(
        service.ensure_member,
        state.engine,
        user_id=2,
        phone="9000000002",
        generate_code=lambda: next(draws),
    )

    assert (first.invite_code, second.invite_code) == ("Taken1", "Fresh2")
    assert next(draws, None) is None  # exactly one draw was wasted on the collision


def test_a_generator_that_always_collides_gives_up(
    call: Call, state: ReferralState, engine: Engine
) -> None:
    calls: Iterator[int] = itertools.count()

    def taken() -> str:
        next(calls)
        return "Taken1"

    call(
        service.ensure_member,
        state.engine,
        user_id=1,
        phone="9000000001",
        generate_code=lambda: "Taken1",
    )
    with pytest.raises(InviteCodesExhausted):
        call(
            service.ensure_member, state.engine, user_id=2, phone="9000000002", generate_code=taken
        )

    assert next(calls) == service.MAX_CODE_DRAWS
    assert member_count(engine) == 1
