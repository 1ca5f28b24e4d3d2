"""A referral chain 10,000 deep: the cycle check sees all of it, and newcomers join its root."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import Engine, text

DEPTH = 10_000

pytestmark = pytest.mark.usefixtures("require_postgres")


def seed_chain(engine: Engine, depth: int) -> None:
    """Users 1..depth+1, each invited by the one before: 1 -> 2 -> ... -> depth+1."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO member "
                "(user_id, phone, invite_code, invited_count, root_id, created_at) "
                "SELECT g, '9' || lpad(g::text, 9, '0'), 'c' || lpad(g::text, 5, '0'), "
                "CASE WHEN g <= :depth THEN 1 ELSE 0 END, 1, now() "
                "FROM generate_series(1, :depth + 1) AS g"
            ),
            {"depth": depth},
        )
        connection.execute(
            text(
                "INSERT INTO activation (invitee_id, inviter_id, invite_code, activated_at) "
                "SELECT g + 1, g, 'c' || lpad(g::text, 5, '0'), now() "
                "FROM generate_series(1, :depth) AS g"
            ),
            {"depth": depth},
        )


def test_the_cycle_check_sees_the_whole_chain(
    engine: Engine,
    activate: Callable[[int, object], httpx.Response],
    code_of: Callable[[int], str],
    check_forest: Callable[[], None],
) -> None:
    seed_chain(engine, DEPTH)
    head, tail_code = 1, f"c{DEPTH + 1:05d}"

    refused = activate(head, tail_code)
    middle = activate(DEPTH // 2, tail_code)
    joined = activate(50_000, tail_code)
    refused_below_the_newcomer = activate(head, code_of(50_000))

    assert refused.status_code == 409
    assert refused.json()["code"] == "referral_cycle"
    assert middle.json()["code"] == "invite_code_already_activated"
    assert joined.status_code == 200
    assert refused_below_the_newcomer.json()["code"] == "referral_cycle"
    check_forest()
