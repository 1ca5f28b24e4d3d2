"""Races on real PostgreSQL: activations started together, each on its own pooled connection.

Each attempt is the activation route's service call; they run as concurrent tasks on the app's
event loop, so PostgreSQL sees them as separate sessions racing for the same locks and rows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from common.errors import AppError
from referral_service import service
from referral_service.deps import ReferralState
from referral_service.models import Member

pytestmark = pytest.mark.usefixtures("require_postgres")

# call(async_function, *args, **kwargs) on the app's event loop (the `call` fixture).
Call = Callable[..., Any]
AddMembers = Callable[[list[int]], dict[int, str]]
Inviters = Callable[[], dict[int, int]]


async def attempt(state: ReferralState, user_id: int, invite_code: str) -> str:
    """One activation request: "ok" or the error code it answers with."""
    try:
        await service.activate_invite_code(
            state.engine,
            state.redis,
            state.activation_failures,
            user_id=user_id,
            phone=f"9{user_id:09d}",
            invite_code=invite_code,
        )
    except AppError as error:
        return error.code
    return "ok"


def race(call: Call, state: ReferralState, attempts: list[tuple[int, str]]) -> list[str]:
    """Start every (user, code) activation at once; their outcomes, in order."""

    async def together() -> list[str]:
        return list(await asyncio.gather(*(attempt(state, u, code) for u, code in attempts)))

    results: list[str] = call(together)
    return results


def ancestors(edges: dict[int, int], user_id: int) -> list[int]:
    """Inviter, inviter's inviter, ...; fails the test on a cycle instead of looping."""
    chain: list[int] = []
    while user_id in edges:
        user_id = edges[user_id]
        assert user_id not in chain, f"cycle through {user_id}"
        chain.append(user_id)
    return chain


def test_activating_each_others_codes_at_once_never_both_succeed(
    call: Call, state: ReferralState, add_members: AddMembers, inviters: Inviters
) -> None:
    for round_ in range(50):
        a, b = 1000 + 2 * round_, 1001 + 2 * round_
        codes = add_members([a, b])

        results = race(call, state, [(a, codes[b]), (b, codes[a])])

        assert sorted(results) == ["ok", "referral_cycle"], round_
    assert len(inviters()) == 50


def test_closing_a_three_way_cycle_at_once_never_all_succeed(
    call: Call,
    state: ReferralState,
    add_members: AddMembers,
    inviters: Inviters,
    check_forest: Callable[[], None],
) -> None:
    for round_ in range(30):
        a, b, c = (2000 + 3 * round_ + i for i in range(3))
        codes = add_members([a, b, c])

        results = race(call, state, [(a, codes[b]), (b, codes[c]), (c, codes[a])])

        # Any two of the three edges make a chain; only the third would close the cycle.
        assert sorted(results) == ["ok", "ok", "referral_cycle"], round_
    assert len(inviters()) == 60
    check_forest()


def test_a_crowd_activating_random_codes_keeps_a_forest(
    call: Call,
    state: ReferralState,
    add_members: AddMembers,
    inviters: Inviters,
    check_forest: Callable[[], None],
) -> None:
    rng = random.Random(20261127)
    for round_ in range(5):
        users = list(range(100 * round_ + 1, 100 * round_ + 41))
        codes = add_members(users)
        targets = {user: rng.choice([other for other in users if other != user]) for user in users}

        results = race(call, state, [(user, codes[targets[user]]) for user in users])

        edges = inviters()
        outcome = dict(zip(users, results, strict=True))
        assert set(results) <= {"ok", "referral_cycle"}
        assert {user for user, result in outcome.items() if result == "ok"} == {
            user for user in users if user in edges
        }
        for user, result in outcome.items():
            if result == "ok":
                assert edges[user] == targets[user]
            else:
                # Refused only if it really would have closed a cycle: the user is still a
                # root and an ancestor of the code's owner.
                assert user in ancestors(edges, targets[user])
        check_forest()


def test_trees_that_move_while_others_join_them_keep_every_root_right(
    call: Call,
    state: ReferralState,
    add_members: AddMembers,
    check_forest: Callable[[], None],
) -> None:
    """Roots of big trees activate codes while newcomers join those trees below them."""
    rng = random.Random(7)
    roots = list(range(5000, 5010))
    codes = add_members(roots + list(range(5100, 5400)))
    # Each root gets a tree of 20 below it first.
    for index, root in enumerate(roots):
        members = list(range(5100 + 20 * index, 5120 + 20 * index))
        joined = [root]
        for member in members:
            assert race(call, state, [(member, codes[rng.choice(joined)])]) == ["ok"]
            joined.append(member)
    check_forest()

    # At once: each root joins the next root's tree, and newcomers join random tree members.
    newcomers = list(range(5300, 5400))
    attempts = [(root, codes[roots[(i + 1) % len(roots)]]) for i, root in enumerate(roots)]
    attempts += [(user, codes[rng.choice(roots + list(range(5100, 5300)))]) for user in newcomers]
    rng.shuffle(attempts)

    results = race(call, state, attempts)

    assert set(results) <= {"ok", "referral_cycle"}
    # The roots form a ring: all of them but one can join the next one's tree.
    root_results = [
        result for (user, _), result in zip(attempts, results, strict=True) if user in roots
    ]
    assert root_results.count("referral_cycle") == 1
    check_forest()


def wait_for_a_lock_waiter(engine: Engine) -> None:
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("no activation is waiting for an advisory lock")


def activate_uncommitted(connection: Any, user_id: int, code: str) -> str:
    """Run an activation in `connection`'s open transaction: it holds its locks until commit."""
    now = datetime.now(UTC)
    outcome: str = connection.execute(
        text("SELECT outcome FROM activate_invite_code(:user, :code, :now, :deadline)"),
        {"user": user_id, "code": code, "now": now, "deadline": now + timedelta(minutes=1)},
    ).scalar_one()
    return outcome


def test_a_waiting_activation_sees_the_cycle_made_while_it_waited(
    call: Call, state: ReferralState, engine: Engine, add_members: AddMembers, inviters: Inviters
) -> None:
    codes = add_members([1, 2, 4])
    assert race(call, state, [(4, codes[1])]) == ["ok"]  # 1 invited 4
    with engine.connect() as holder, ThreadPoolExecutor(max_workers=1) as pool:
        # 2 joins 1's tree (through 4) but has not committed yet: it holds its locks.
        assert activate_uncommitted(holder, 2, codes[4]) == "activated"
        # 1 now activates 2's code: it sees 2 as a root, so it waits for 2's lock.
        waiting = pool.submit(race, call, state, [(1, codes[2])])
        wait_for_a_lock_waiter(engine)
        holder.commit()

        # After the wait, 2's root is 1 itself: activating would close 1 -> 4 -> 2 -> 1.
        assert waiting.result(timeout=30) == ["referral_cycle"]
    assert inviters() == {4: 1, 2: 4}


def test_a_waiting_activation_follows_the_root_that_moved(
    call: Call,
    state: ReferralState,
    engine: Engine,
    add_members: AddMembers,
    inviters: Inviters,
    check_forest: Callable[[], None],
) -> None:
    codes = add_members([1, 2, 3])
    with engine.connect() as holder, ThreadPoolExecutor(max_workers=1) as pool:
        assert activate_uncommitted(holder, 2, codes[3]) == "activated"  # 3 invites 2
        # 1 joins 2's tree, whose root 2 is moving under 3: it must end up in 3's tree.
        waiting = pool.submit(race, call, state, [(1, codes[2])])
        wait_for_a_lock_waiter(engine)
        holder.commit()

        assert waiting.result(timeout=30) == ["ok"]
    assert inviters() == {2: 3, 1: 2}
    with engine.connect() as connection:
        assert connection.scalar(select(Member.root_id).where(Member.user_id == 1)) == 3
    check_forest()


def test_the_primary_key_turns_a_check_missed_by_a_bug_into_409(
    call: Call, state: ReferralState, engine: Engine, add_members: AddMembers, inviters: Inviters
) -> None:
    codes = add_members([1, 2, 3])
    with engine.connect() as rogue, ThreadPoolExecutor(max_workers=1) as pool:
        # A writer that skips the locks (as a bug would) inserts 2's activation, uncommitted.
        rogue.execute(
            text(
                "INSERT INTO activation (invitee_id, inviter_id, invite_code, activated_at) "
                "VALUES (2, 1, :code, now())"
            ),
            {"code": codes[1]},
        )
        waiting = pool.submit(race, call, state, [(2, codes[3])])
        time.sleep(0.5)  # long enough for the activation to reach the insert and wait on it
        rogue.commit()

        assert waiting.result(timeout=30) == ["invite_code_already_activated"]
    assert inviters() == {2: 1}


def test_one_user_seen_by_many_requests_at_once_gets_one_member_and_one_code(
    call: Call, state: ReferralState, engine: Engine
) -> None:
    async def first_sights() -> list[str]:
        members = await asyncio.gather(
            *(
                service.ensure_member(state.engine, user_id=77, phone="9000000077")
                for _ in range(15)
            )
        )
        return [member.invite_code for member in members]

    codes = call(first_sights)

    assert len(set(codes)) == 1
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Member)) == 1


def test_an_activation_past_its_deadline_does_not_commit(
    engine: Engine, add_members: AddMembers
) -> None:
    """A stalled server resuming a call whose caller has given up must not commit it."""
    codes = add_members([1, 2])
    now = datetime.now(UTC)
    with engine.connect() as connection, pytest.raises(Exception, match="deadline"):
        connection.execute(
            text("SELECT outcome FROM activate_invite_code(2, :code, :now, :deadline)"),
            {"code": codes[1], "now": now, "deadline": now - timedelta(seconds=1)},
        )
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM activation")) == 0
