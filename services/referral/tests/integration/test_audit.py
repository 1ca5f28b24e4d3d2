"""Every activation attempt leaves its audit row: who, which code, the answer, from where."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from referral_service.config import ReferralSettings
from referral_service.models import AuditEvent

ACTIVATE = "/referral_system/api_invite_code_activation/"
AUDIT = "/internal/admin/audit"

KEY = "audit-hash-key-of-these-tests-0123456789"
PROXY = "10.0.0.1"
CLIENT_IP = "203.0.113.9"
# Refusals a user may make in an hour in these tests.
CAP = 3

Mint = Callable[..., str]
Post = Callable[..., httpx.Response]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


def expected_hash(ip: str) -> str:
    return hmac.new(KEY.encode(), ip.encode(), hashlib.sha256).digest()[:16].hex()


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    return make_settings(
        audit_hash_key=KEY,
        trusted_proxies=f"{PROXY}/32",
        activation_failures_per_user_per_hour=CAP,
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Calls from the gateway (a trusted proxy), for the client at CLIENT_IP."""
    with TestClient(app, client=(PROXY, 40000)) as test_client:
        yield test_client


@pytest.fixture
def post(client: TestClient, mint: Mint) -> Post:
    def send(user_id: int, body: Any, request_id: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {mint(user_id)}", "X-Forwarded-For": CLIENT_IP}
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        return client.post(ACTIVATE, json=body, headers=headers)

    return send


@pytest.fixture
def audit_rows(client: TestClient, mint: Mint) -> Callable[..., list[dict[str, Any]]]:
    """The audit log as the admin route answers it, newest first."""
    admin = {"Authorization": f"Bearer {mint(900, roles=['admin'])}"}

    def read(**params: Any) -> list[dict[str, Any]]:
        response = client.get(AUDIT, params=params, headers=admin)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    return read


def test_an_activation_writes_who_which_code_from_where_and_the_request(
    post: Post, code_of: Callable[[int], str], audit_rows: Callable[..., list[dict[str, Any]]]
) -> None:
    code = code_of(1)

    response = post(2, {"invite_code": code}, request_id="req-activation-1")

    assert response.status_code == 200
    (row,) = audit_rows(user_id=2)
    assert row == {
        "id": row["id"],
        "at": response.json()["activated_at"],
        "type": "activation.succeeded",
        "actor_id": 2,
        "subject_id": 2,
        "subject_phone": None,
        "ip_hash": expected_hash(CLIENT_IP),
        "request_id": "req-activation-1",
        "detail": {"invite_code": code, "inviter_id": 1},
    }


def test_each_refusal_is_recorded_with_the_code_it_was_answered_with(
    post: Post, code_of: Callable[[int], str], audit_rows: Callable[..., list[dict[str, Any]]]
) -> None:
    codes = {user: code_of(user) for user in (1, 3)}
    assert post(2, {"invite_code": codes[1]}).status_code == 200  # 1 invited 2
    two = code_of(2)

    attempts = [
        (10, {"invite_code": "Zz9Zz9"}, 404, "invite_code_not_found", "Zz9Zz9"),
        (11, {"invite_code": code_of(11)}, 409, "own_invite_code", code_of(11)),
        (2, {"invite_code": codes[3]}, 409, "invite_code_already_activated", codes[3]),
        (1, {"invite_code": two}, 409, "referral_cycle", two),
        (12, {"invite_code": "bad!"}, 422, "invalid_invite_code_format", "bad!"),
        (13, {"invite_code": 123456}, 422, "invalid_invite_code_format", None),
        (14, {}, 422, "invalid_invite_code_format", None),
    ]
    for user, body, status, reason, _ in attempts:
        response = post(user, body, request_id=f"req-{user}")
        assert response.status_code == status, response.text
        assert response.json()["code"] == reason

    refusals = audit_rows(type="activation.refused")
    assert [
        (row["actor_id"], row["subject_id"], row["detail"], row["request_id"])
        for row in reversed(refusals)
    ] == [
        (user, user, {"reason": reason, "invite_code": posted}, f"req-{user}")
        for user, _, _, reason, posted in attempts
    ]
    assert {row["ip_hash"] for row in refusals} == {expected_hash(CLIENT_IP)}


def test_a_refusal_over_the_cap_is_recorded_as_too_many_requests(
    post: Post, audit_rows: Callable[..., list[dict[str, Any]]]
) -> None:
    for _ in range(CAP):
        assert post(5, {"invite_code": "Zz9Zz9"}).status_code == 404

    response = post(5, {"invite_code": "Yy8Yy8"}, request_id="req-capped")

    assert response.status_code == 429
    latest, *earlier = audit_rows(user_id=5)
    assert latest["type"] == "activation.refused"
    assert latest["detail"] == {"reason": "too_many_requests", "invite_code": "Yy8Yy8"}
    assert latest["request_id"] == "req-capped"
    assert [row["detail"]["reason"] for row in earlier] == ["invite_code_not_found"] * CAP


def test_a_repeat_of_ones_own_activation_writes_no_second_row(
    post: Post, code_of: Callable[[int], str], audit_rows: Callable[..., list[dict[str, Any]]]
) -> None:
    code = code_of(1)

    assert post(2, {"invite_code": code}).status_code == 200
    assert post(2, {"invite_code": code}).status_code == 200

    assert [row["type"] for row in audit_rows(user_id=2)] == ["activation.succeeded"]


def test_an_unauthenticated_attempt_writes_nothing(
    client: TestClient, engine: Engine, code_of: Callable[[int], str]
) -> None:
    code_of(1)

    assert client.post(ACTIVATE, json={"invite_code": "bad!"}).status_code == 401
    assert client.post(ACTIVATE, json={"invite_code": "Zz9Zz9"}).status_code == 401

    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_client_reached_directly_is_hashed_by_its_own_address(
    app: FastAPI, mint: Mint, code_of: Callable[[int], str], engine: Engine
) -> None:
    """X-Forwarded-For from an untrusted peer is not believed."""
    code = code_of(1)
    with TestClient(app, client=("198.51.100.4", 40000)) as direct:
        response = direct.post(
            ACTIVATE,
            json={"invite_code": code},
            headers={"Authorization": f"Bearer {mint(2)}", "X-Forwarded-For": CLIENT_IP},
        )

    assert response.status_code == 200
    with engine.connect() as connection:
        assert connection.scalar(select(AuditEvent.ip_hash)) == expected_hash("198.51.100.4")
