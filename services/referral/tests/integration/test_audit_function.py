"""On PostgreSQL an activation's audit row is written by the activation function itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from referral_service.main import MIGRATIONS
from referral_service.models import AuditEvent

pytestmark = pytest.mark.usefixtures("require_postgres")


def test_the_activation_function_writes_the_row_in_its_own_call(
    client: TestClient, engine: Engine, code_of: Callable[[int], str]
) -> None:
    """No statement besides the function: the row comes with the activation, or not at all."""
    codes = {user: code_of(user) for user in (1, 2, 3, 4)}
    call = text(
        "SELECT outcome FROM activate_invite_code"
        "(:invitee, :code, :now, :deadline, NULL, 'ab12', 'req-direct')"
    )
    now = datetime.now(UTC)
    with engine.begin() as connection:
        outcome = connection.scalar(
            call,
            {"invitee": 2, "code": codes[1], "now": now, "deadline": now + timedelta(minutes=1)},
        )
    # Past its deadline the activation, and with it its row, is rolled back.
    with engine.connect() as connection, pytest.raises(Exception, match="deadline"):
        connection.execute(call, {"invitee": 4, "code": codes[3], "now": now, "deadline": now})

    assert outcome == "activated"
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                AuditEvent.type,
                AuditEvent.actor_id,
                AuditEvent.ip_hash,
                AuditEvent.request_id,
                AuditEvent.detail,
            )
        ).all()
    assert rows == [
        (
            "activation.succeeded",
            2,
            "ab12",
            "req-direct",
            {"invite_code": codes[1], "inviter_id": 1},
        )
    ]


def test_the_downgrade_puts_back_the_function_of_0004(
    client: TestClient, engine: Engine, database_url: str, code_of: Callable[[int], str]
) -> None:
    code = code_of(1)
    code_of(2)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)

    command.downgrade(config, "0004")

    with engine.connect() as connection:
        arguments = connection.scalar(
            text(
                "SELECT pg_get_function_identity_arguments(oid) FROM pg_proc "
                "WHERE proname = 'activate_invite_code'"
            )
        )
        now = datetime.now(UTC)
        outcome = connection.scalar(
            text("SELECT outcome FROM activate_invite_code(2, :code, :now, :deadline, 'e1')"),
            {"code": code, "now": now, "deadline": now + timedelta(minutes=1)},
        )
    assert arguments == (
        "p_invitee bigint, p_code character, p_now timestamp with time zone, "
        "p_deadline timestamp with time zone, p_event_id text"
    )
    assert outcome == "activated"
    command.upgrade(config, "head")
