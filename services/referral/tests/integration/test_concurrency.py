"""Races on real PostgreSQL: threads with their own connections, released together by a barrier.

Each attempt runs the activation route's body (referral_service.deps.member_transaction).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from common.errors import AppError
from common.security import Principal
from referral_service import repository, service
from referral_service.deps import member_transaction
from referral_service.errors import InviteCodeAlreadyActivated
from referral_service.models import Activation, Member

T = TypeVar("T")

pytestmark = pytest.mark.usefixtures("require_postgres")


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, all released at the same moment; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=60) for future in futures]


def attempt(engine: Engine, user_id: int, invite_code: str) -> str:
    """One activation request: "ok" or the error code it answers with."""
    principal = Principal(
        user_id=user_id, phone=f"9{user_id:09d}", jti="test", expires_at=0, token="test"
    )
    try:
        with member_transaction(engine, principal) as (session, member):
            service.activate_invite_code(session, member=member, invite_code=invite_code)
    except AppError as error:
        return error.code
    return "ok"


def make_members(engine: Engine, user_ids: Iterable[int]) -> dict[int, str]:
    with Session(engine) as session:
        codes = {
            user_id: service.ensure_member(
                session, user_id=user_id, phone=f"9{user_id:09d}"
            ).invite_code
            for user_id in user_ids
        }
        session.commit()
    return codes


def inviters(engine: Engine) -> dict[int, int]:
    with Session(engine) as session:
        rows = session.execute(select(Activation.invitee_id, Activation.inviter_id)).all()
    return {invitee: inviter for invitee, inviter in rows}


def ancestors(edges: dict[int, int], user_id: int) -> list[int]:
    """Inviter, inviter's inviter, ...; fails the test on a cycle instead of looping."""
    chain: list[int] = []
    while user_id in edges:
        user_id = edges[user_id]
        assert user_id not in chain, f"cycle through {user_id}"
        chain.append(user_id)
    return chain


def test_activating_each_others_codes_at_once_never_both_succeed(engine: Engine) -> None:
    for round_ in range(50):
        a, b = 1000 + 2 * round_, 1001 + 2 * round_
        codes = make_members(engine, [a, b])

        results = all_at_once(
            [partial(attempt, engine, a, codes[b]), partial(attempt, engine, b, codes[a])]
        )

        assert sorted(results) == ["ok", "referral_cycle"], round_
    assert len(inviters(engine)) == 50


def test_closing_a_three_way_cycle_at_once_never_all_succeed(engine: Engine) -> None:
    for round_ in range(30):
        a, b, c = (2000 + 3 * round_ + i for i in range(3))
        codes = make_members(engine, [a, b, c])

        results = all_at_once(
            [
                partial(attempt, engine, a, codes[b]),
                partial(attempt, engine, b, codes[c]),
                partial(attempt, engine, c, codes[a]),
            ]
        )

        # Any two of the three edges make a chain; only the third would close the cycle.
        assert sorted(results) == ["ok", "ok", "referral_cycle"], round_
    edges = inviters(engine)
    assert len(edges) == 60
    for user_id in edges:
        ancestors(edges, user_id)


def test_a_crowd_activating_random_codes_keeps_a_forest(engine: Engine) -> None:
    rng = random.Random(20261127)
    users = list(range(1, 41))
    codes = make_members(engine, users)
    targets = {user: rng.choice([other for other in users if other != user]) for user in users}

    results = all_at_once([partial(attempt, engine, user, codes[targets[user]]) for user in users])

    edges = inviters(engine)
    outcome = dict(zip(users, results, strict=True))
    assert set(results) <= {"ok", "referral_cycle"}
    assert {user for user, result in outcome.items() if result == "ok"} == set(edges)
    for user, result in outcome.items():
        if result == "ok":
            assert edges[user] == targets[user]
        else:
            # Refused only if it really would have closed a cycle: the user is still a root
            # and an ancestor of the code's owner.
            assert user in ancestors(edges, targets[user])
    with Session(engine) as session:
        counts = dict(session.execute(select(Member.user_id, Member.invited_count)).all())
    for user in users:
        assert counts[user] == sum(1 for inviter in edges.values() if inviter == user)


def wait_for_a_lock_waiter(engine: Engine) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("no activation is waiting for an advisory lock")


def test_a_waiting_activation_sees_the_cycle_made_while_it_waited(engine: Engine) -> None:
    codes = make_members(engine, [1, 2, 4])
    assert attempt(engine, 4, codes[1]) == "ok"  # 1 invited 4
    with Session(engine) as holder, ThreadPoolExecutor(max_workers=1) as pool:
        # 2 joins 1's tree (through 4) but has not committed yet: it holds the locks on 2 and 1.
        joiner = service.ensure_member(holder, user_id=2, phone="9000000002")
        service.activate_invite_code(holder, member=joiner, invite_code=codes[4])
        # 1 now activates 2's code: it saw 2 as a root, so it locks 1 and 2 and waits.
        waiting = pool.submit(attempt, engine, 1, codes[2])
        wait_for_a_lock_waiter(engine)
        holder.commit()

        # After the wait, 2's root is 1 itself: activating would close 1 -> 4 -> 2 -> 1.
        assert waiting.result(timeout=30) == "referral_cycle"
    edges = inviters(engine)
    assert edges == {4: 1, 2: 4}


def test_a_waiting_activation_follows_the_root_that_moved(engine: Engine) -> None:
    codes = make_members(engine, [1, 2, 3])
    with Session(engine) as holder, ThreadPoolExecutor(max_workers=1) as pool:
        owner = service.ensure_member(holder, user_id=2, phone="9000000002")
        service.activate_invite_code(holder, member=owner, invite_code=codes[3])  # 3 invites 2
        waiting = pool.submit(attempt, engine, 1, codes[2])
        wait_for_a_lock_waiter(engine)
        holder.commit()

        assert waiting.result(timeout=30) == "ok"
    assert inviters(engine) == {2: 3, 1: 2}
    with Session(engine) as session:
        assert repository.root_of(session, 1) == 3


def test_one_user_seen_by_many_requests_at_once_gets_one_member_and_one_code(
    engine: Engine,
) -> None:
    def first_sight() -> str:
        with Session(engine) as session:
            code = service.ensure_member(session, user_id=77, phone="9000000077").invite_code
            session.commit()
        return code

    codes = all_at_once([first_sight for _ in range(15)])

    assert len(set(codes)) == 1
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1


def test_the_primary_key_turns_a_missed_check_into_409(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = make_members(engine, [1, 2, 3])
    assert attempt(engine, 2, codes[1]) == "ok"
    real_get_activation = repository.get_activation
    lies = iter([None])  # the check misses the existing activation once, as a racing bug would

    def get_activation(session: Session, invitee_id: int) -> Activation | None:
        return next(lies, real_get_activation(session, invitee_id))

    monkeypatch.setattr(repository, "get_activation", get_activation)

    with Session(engine) as session:
        member = service.ensure_member(session, user_id=2, phone="9000000002")
        with pytest.raises(InviteCodeAlreadyActivated) as raised:
            service.activate_invite_code(session, member=member, invite_code=codes[3])

    assert raised.value.extra == {"activated_invite_code": codes[1]}
    assert inviters(engine) == {2: 1}
