"""GET /referral_system/api_invited_users.csv: every invitee, newest first, streamed as CSV."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from common.redis import redis_from_url
from common.revocation import revoked_session_key
from referral_service import repository, service
from referral_service.deps import ReferralState
from referral_service.models import Activation, Member

CSV = "/referral_system/api_invited_users.csv"
INVITED = "/referral_system/api_invited_users/"
HEADER = "id,phone,activated_at\r\n"

Bearer = Callable[[int], dict[str, str]]
Call = Callable[..., Any]
Mint = Callable[..., str]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


def _phone(user_id: int) -> str:
    return f"9{user_id:09d}"


@pytest.fixture
def activate_at(call: Call, state: ReferralState) -> Callable[[int, int, datetime], None]:
    """activate_at(inviter, invitee, moment): the invitee activates the inviter's code then."""

    def run(inviter_id: int, invitee_id: int, moment: datetime) -> None:
        inviter = call(
            service.ensure_member, state.engine, user_id=inviter_id, phone=_phone(inviter_id)
        )
        call(service.ensure_member, state.engine, user_id=invitee_id, phone=_phone(invitee_id))
        result = call(
            repository.activate,
            state.engine,
            invitee_id=invitee_id,
            invite_code=inviter.invite_code,
            now=moment,
        )
        assert result.outcome is repository.Outcome.ACTIVATED

    return run


def assert_csv_download(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="invited_users.csv"'
    assert response.headers["cache-control"] == "no-store"


def test_a_user_who_is_not_a_member_gets_the_header_alone(
    client: TestClient, bearer: Bearer
) -> None:
    response = client.get(CSV, headers=bearer(1))

    assert_csv_download(response)
    assert response.text == HEADER


def test_a_member_nobody_joined_gets_the_header_alone(
    client: TestClient, bearer: Bearer, call: Call, state: ReferralState
) -> None:
    call(service.ensure_member, state.engine, user_id=1, phone=_phone(1))

    assert client.get(CSV, headers=bearer(1)).text == HEADER


def test_every_invitee_newest_first_ties_by_id(
    client: TestClient, bearer: Bearer, activate_at: Callable[[int, int, datetime], None]
) -> None:
    earlier = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    later = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    activate_at(1, 3, earlier)
    activate_at(1, 2, later)
    activate_at(1, 4, later)
    activate_at(2, 5, later)  # user 2's invitee, not user 1's

    response = client.get(CSV, headers=bearer(1))

    assert_csv_download(response)
    assert response.text == (
        "id,phone,activated_at\r\n"
        "4,9000000004,2026-11-27T10:00:00.123456Z\r\n"
        "2,9000000002,2026-11-27T10:00:00.123456Z\r\n"
        "3,9000000003,2026-11-27T10:00:00Z\r\n"
    )
    assert client.get(CSV, headers=bearer(2)).text == (
        "id,phone,activated_at\r\n5,9000000005,2026-11-27T10:00:00.123456Z\r\n"
    )


def test_the_lines_are_the_json_lists_items(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3, 4])

    items = client.get(INVITED, headers=bearer(1)).json()["items"]
    lines = client.get(CSV, headers=bearer(1)).text.split("\r\n")

    assert lines[0] == "id,phone,activated_at"
    assert lines[1:] == [f"{i['id']},{i['phone']},{i['activated_at']}" for i in items] + [""]
    assert [item["id"] for item in items] == [4, 3, 2]


def test_fields_are_quoted_as_csv_needs(client: TestClient, bearer: Bearer, engine: Engine) -> None:
    # Auth hands out 10-digit phones only; a stored value with CSV's special characters
    # shows that the writer, not string joining, makes the lines.
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Member).values(created_at=moment),
            [
                {"user_id": 1, "phone": _phone(1), "invite_code": "aaaaaa", "root_id": 1},
                {"user_id": 2, "phone": 'a,"b"\nc', "invite_code": "bbbbbb", "root_id": 1},
            ],
        )
        connection.execute(
            insert(Activation).values(
                invitee_id=2, inviter_id=1, invite_code="aaaaaa", activated_at=moment
            )
        )

    response = client.get(CSV, headers=bearer(1))

    assert response.text == 'id,phone,activated_at\r\n2,"a,""b""\nc",2026-01-02T03:04:05Z\r\n'


def test_the_access_cookie_is_enough(
    client: TestClient, mint: Mint, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2])

    response = client.get(CSV, headers={"Cookie": f"access_token={mint(1)}"})

    assert_csv_download(response)
    assert response.text.startswith(HEADER + "2,9000000002,")


def test_no_or_a_bad_token_is_401_in_the_error_shape(client: TestClient, mint: Mint) -> None:
    now = datetime.now(UTC).timestamp()
    for headers in (
        {},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": f"Bearer {mint(1, iat=int(now) - 700, exp=int(now) - 60)}"},
        {"Cookie": "access_token=garbage"},
    ):
        response = client.get(CSV, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == "not_authenticated"
        assert "content-disposition" not in response.headers


def test_a_revoked_session_is_401(
    client: TestClient, mint: Mint, redis_url: str, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2])
    token = mint(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(CSV, headers=headers).status_code == 200

    session = jwt.decode(token, options={"verify_signature": False})["sid"]
    redis_from_url(redis_url).set(revoked_session_key(session), "1", ex=60)

    for credentials in (headers, {"Cookie": f"access_token={token}"}):
        response = client.get(CSV, headers=credentials)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_batches_continue_after_the_last_row_across_ties(
    call: Call, state: ReferralState, activate_at: Callable[[int, int, datetime], None]
) -> None:
    moments = [datetime(2026, 5, 1, 12, minute, tzinfo=UTC) for minute in (0, 0, 0, 1, 1, 2)]
    for invitee_id, moment in zip(range(2, 8), moments, strict=True):
        activate_at(1, invitee_id, moment)

    async def batches(size: int) -> list[list[int]]:
        found = await service.invitee_export(state.engine, inviter_id=1, batch_size=size)
        return [[invitee.id for invitee in batch] async for batch in found]

    assert call(batches, 2) == [[7, 6], [5, 4], [3, 2]]
    assert call(batches, 4) == [[7, 6, 5, 4], [3, 2]]
    assert call(batches, 6) == [[7, 6, 5, 4, 3, 2]]
    assert call(batches, 100) == [[7, 6, 5, 4, 3, 2]]


def test_invitees_who_arrive_during_an_export_neither_repeat_nor_shift_rows(
    call: Call, state: ReferralState, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3, 4, 5])

    async def export_while_one_arrives() -> list[int]:
        found = await service.invitee_export(state.engine, inviter_id=1, batch_size=2)
        seen = [invitee.id for invitee in await anext(found)]
        inviter = await service.ensure_member(state.engine, user_id=1, phone=_phone(1))
        await service.activate_invite_code(
            state.engine,
            state.redis,
            state.activation_failures,
            user_id=6,
            phone=_phone(6),
            invite_code=inviter.invite_code,
        )
        return seen + [invitee.id async for batch in found for invitee in batch]

    assert call(export_while_one_arrives) == [5, 4, 3, 2]
