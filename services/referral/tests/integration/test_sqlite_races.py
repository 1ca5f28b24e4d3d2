"""The single-process mode runs on SQLite: racing requests there are serialized, not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from common.errors import AppError
from referral_service import service
from referral_service.deps import ReferralState
from referral_service.models import Activation

# call(async_function, *args, **kwargs) on the app's event loop (the `call` fixture).
Call = Callable[..., Any]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def attempt(state: ReferralState, user_id: int, invite_code: str) -> str:
    try:
        await service.activate_invite_code(
            state.engine,
            state.redis,
            state.activation_failures,
            user_id=user_id,
            phone="9000000000",
            invite_code=invite_code,
        )
    except AppError as error:
        return error.code
    return "ok"


def race(call: Call, state: ReferralState, attempts: list[tuple[int, str]]) -> list[str]:
    async def together() -> list[str]:
        return list(await asyncio.gather(*(attempt(state, u, code) for u, code in attempts)))

    results: list[str] = call(together)
    return results


def test_racing_activations_on_sqlite_keep_every_rule(
    call: Call,
    state: ReferralState,
    engine: Engine,
    add_members: Callable[[list[int]], dict[int, str]],
    check_forest: Callable[[], None],
) -> None:
    codes = add_members(list(range(1, 31)))

    for a in range(1, 11, 2):  # pairs activating each other's codes
        b = a + 1
        assert sorted(race(call, state, [(a, codes[b]), (b, codes[a])])) == ["ok", "referral_cycle"]

    # A user seen for the first time fires ten activations at once.
    results = race(call, state, [(99, codes[u]) for u in range(11, 21)])
    assert sorted(results) == ["invite_code_already_activated"] * 9 + ["ok"]
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Activation)) == 6
    check_forest()
