"""The single-process mode runs on SQLite: racing requests there are serialized, not lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from common.errors import AppError
from common.security import Principal
from referral_service import service
from referral_service.deps import member_transaction
from referral_service.models import Activation


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def attempt(engine: Engine, user_id: int, invite_code: str) -> str:
    principal = Principal(
        user_id=user_id, phone=f"9{user_id:09d}", jti="test", expires_at=0, token="test"
    )
    try:
        with member_transaction(engine, principal) as (session, member):
            service.activate_invite_code(session, member=member, invite_code=invite_code)
    except AppError as error:
        return error.code
    return "ok"


def all_at_once(calls: list[Callable[[], str]]) -> list[str]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_racing_activations_on_sqlite_keep_every_rule(engine: Engine) -> None:
    with Session(engine) as session:
        codes = {
            user_id: service.ensure_member(session, user_id=user_id, phone="9000000000").invite_code
            for user_id in range(1, 31)
        }
        session.commit()

    for a in range(1, 11, 2):  # pairs activating each other's codes
        b = a + 1
        results = all_at_once(
            [partial(attempt, engine, a, codes[b]), partial(attempt, engine, b, codes[a])]
        )
        assert sorted(results) == ["ok", "referral_cycle"]

    # A user seen for the first time fires ten activations at once.
    results = all_at_once([partial(attempt, engine, 99, codes[u]) for u in range(11, 21)])
    assert sorted(results) == ["invite_code_already_activated"] * 9 + ["ok"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Activation)) == 6
