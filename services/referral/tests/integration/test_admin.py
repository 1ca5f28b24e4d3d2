"""/internal/admin/...: the operator console's reads, for tokens with the admin role only."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from common.audit import Event
from referral_service.config import ReferralSettings
from referral_service.models import AuditEvent

MEMBERS = "/internal/admin/members"
STATS = "/internal/admin/stats"
AUDIT = "/internal/admin/audit"
INVITED = "/referral_system/api_invited_users/"
PAGE_SIZE = 2

Mint = Callable[..., str]
Activate = Callable[[int, object], httpx.Response]
CodeOf = Callable[[int], str]
Invite = Callable[[int, Iterable[int]], None]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)

ENDPOINTS = [
    ("POST", MEMBERS, {"ids": [1]}),
    ("GET", f"{MEMBERS}/1", None),
    ("GET", STATS, None),
    ("GET", AUDIT, None),
]


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    return make_settings(invited_users_page_size=PAGE_SIZE)


@pytest.fixture
def admin(client: TestClient, mint: Mint) -> Callable[..., httpx.Response]:
    """admin(method, path, json=..., params=...) with an admin's access token."""
    headers = {"Authorization": f"Bearer {mint(900, roles=['admin'])}"}

    def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return client.request(method, path, headers=headers, **kwargs)

    return send


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_without_a_token_every_admin_route_is_401(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("roles", [None, [], ["operator"], ["Admin"]])
def test_a_token_without_the_admin_role_is_403(
    client: TestClient, mint: Mint, method: str, path: str, body: Any, roles: Any
) -> None:
    token = mint(1) if roles is None else mint(1, roles=roles)

    response = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json() == {"detail": response.json()["detail"], "code": "forbidden"}


def test_members_answers_the_known_users_among_the_ids(
    admin: Callable[..., httpx.Response], code_of: CodeOf, activate: Activate
) -> None:
    codes = {user: code_of(user) for user in (1, 2, 3)}
    assert activate(2, codes[1]).status_code == 200
    assert activate(3, codes[1]).status_code == 200

    response = admin("POST", MEMBERS, json={"ids": [3, 1, 404, 2, 1]})

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "user_id": 1,
                "invite_code": codes[1],
                "activated_invite_code": None,
                "invited_count": 2,
            },
            {
                "user_id": 2,
                "invite_code": codes[2],
                "activated_invite_code": codes[1],
                "invited_count": 0,
            },
            {
                "user_id": 3,
                "invite_code": codes[3],
                "activated_invite_code": codes[1],
                "invited_count": 0,
            },
        ]
    }


@pytest.mark.parametrize(
    "body", [{"ids": list(range(1, 202))}, {"ids": [0]}, {"ids": ["x"]}, {"ids": [2**63]}, {}]
)
def test_members_refuses_more_than_200_ids_or_ids_that_are_none(
    admin: Callable[..., httpx.Response], body: Any
) -> None:
    response = admin("POST", MEMBERS, json=body)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_ids"


def test_members_with_200_ids_is_fine(admin: Callable[..., httpx.Response]) -> None:
    response = admin("POST", MEMBERS, json={"ids": list(range(1, 201))})

    assert response.status_code == 200
    assert response.json() == {"items": []}


def test_a_member_card_shows_the_chain_the_first_invitees_and_their_next_page(
    admin: Callable[..., httpx.Response],
    client: TestClient,
    code_of: CodeOf,
    activate: Activate,
    bearer: Callable[[int], dict[str, str]],
) -> None:
    # 1 invited 2, 2 invited 3; 3 invited 4, 5 and 6 (in this order).
    code = {user: code_of(user) for user in range(1, 7)}
    activated_at = {}
    for invitee, inviter in [(2, 1), (3, 2), (4, 3), (5, 3), (6, 3)]:
        response = activate(invitee, code[inviter])
        assert response.status_code == 200
        activated_at[invitee] = response.json()["activated_at"]

    response = admin("GET", f"{MEMBERS}/3")

    assert response.status_code == 200
    card = response.json()
    assert card == {
        "user_id": 3,
        "invite_code": code[3],
        "activated_invite_code": code[2],
        "invited_count": 3,
        "inviter_chain": [
            {"id": 2, "phone": "9000000002", "invite_code": code[2]},
            {"id": 1, "phone": "9000000001", "invite_code": code[1]},
        ],
        "invitees": [
            {"id": 6, "phone": "9000000006", "activated_at": activated_at[6]},
            {"id": 5, "phone": "9000000005", "activated_at": activated_at[5]},
        ],
        "invitees_next": card["invitees_next"],
    }
    # The cursor is the public invitee list's: the inviter's next page follows from it.
    rest = client.get(
        INVITED, params={"cursor": card["invitees_next"], "limit": PAGE_SIZE}, headers=bearer(3)
    )
    assert rest.json() == {
        "items": [{"id": 4, "phone": "9000000004", "activated_at": activated_at[4]}],
        "next": None,
    }
    root = admin("GET", f"{MEMBERS}/1").json()
    assert (root["inviter_chain"], root["invitees_next"]) == ([], None)
    assert [item["id"] for item in root["invitees"]] == [2]


def test_a_chain_longer_than_50_is_cut_at_50(
    admin: Callable[..., httpx.Response], invite: Invite
) -> None:
    for inviter in range(1, 61):  # 1 invited 2, ..., 60 invited 61
        invite(inviter, [inviter + 1])

    card = admin("GET", f"{MEMBERS}/61").json()

    assert [link["id"] for link in card["inviter_chain"]] == list(range(60, 10, -1))
    assert card["inviter_chain"][0] == {
        "id": 60,
        "phone": "9000000060",
        "invite_code": card["inviter_chain"][0]["invite_code"],
    }
    assert admin("GET", f"{MEMBERS}/51").json()["inviter_chain"][-1]["id"] == 1


def test_a_user_the_service_never_saw_is_404(admin: Callable[..., httpx.Response]) -> None:
    response = admin("GET", f"{MEMBERS}/12345")

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


@pytest.mark.parametrize("user_id", ["0", "abc", str(2**63)])
def test_a_member_id_that_is_none_is_422(
    admin: Callable[..., httpx.Response], user_id: str
) -> None:
    response = admin("GET", f"{MEMBERS}/{user_id}")

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_user_id"


def add_audit_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(AuditEvent), rows)


def refusal(user_id: int, reason: str, at: datetime) -> dict[str, Any]:
    return {
        "at": at,
        "type": "activation.refused",
        "actor_id": user_id,
        "subject_id": user_id,
        "detail": {"reason": reason, "invite_code": "Zz9Zz9"},
    }


def test_stats_count_each_day_with_zeros_and_refusals_by_reason(
    admin: Callable[..., httpx.Response], code_of: CodeOf, activate: Activate, engine: Engine
) -> None:
    codes = {user: code_of(user) for user in (1, 2, 3)}
    for invitee in (4, 5, 6):
        assert activate(invitee, codes[1]).status_code == 200
    assert activate(7, codes[2]).status_code == 200
    assert activate(8, "Zz9Zz9").status_code == 404
    assert activate(9, "Zz9Zz9").status_code == 404
    assert activate(1, codes[1]).status_code == 409
    assert activate(10, "no!").status_code == 422
    today = datetime.now(UTC).date()
    two_days_ago = datetime.combine(today - timedelta(days=2), datetime.min.time(), UTC)
    add_audit_rows(
        engine,
        [
            refusal(11, "referral_cycle", two_days_ago + timedelta(hours=23, minutes=59)),
            refusal(11, "referral_cycle", two_days_ago),
            # Before the first day asked for: not counted.
            refusal(11, "referral_cycle", two_days_ago - timedelta(microseconds=1)),
        ],
    )

    response = admin("GET", STATS, params={"days": 3})

    assert response.status_code == 200
    body = response.json()
    assert body["series"] == [
        {
            "date": (today - timedelta(days=2)).isoformat(),
            "activations": 0,
            "refused": {"referral_cycle": 2},
        },
        {"date": (today - timedelta(days=1)).isoformat(), "activations": 0, "refused": {}},
        {
            "date": today.isoformat(),
            "activations": 4,
            "refused": {
                "invite_code_not_found": 2,
                "own_invite_code": 1,
                "invalid_invite_code_format": 1,
            },
        },
    ]
    assert body["top_inviters"] == [
        {"id": 1, "phone": "9000000001", "invite_code": codes[1], "invited_count": 3},
        {"id": 2, "phone": "9000000002", "invite_code": codes[2], "invited_count": 1},
    ]


def test_stats_default_to_30_days_and_list_at_most_10_inviters(
    admin: Callable[..., httpx.Response], invite: Invite
) -> None:
    for inviter in range(1, 13):  # inviter n has n invitees
        invite(inviter, range(1000 * inviter, 1000 * inviter + inviter))

    body = admin("GET", STATS).json()

    assert len(body["series"]) == 30
    assert body["series"][-1]["date"] == datetime.now(UTC).date().isoformat()
    assert sum(day["activations"] for day in body["series"]) == sum(range(1, 13))
    assert [(row["id"], row["invited_count"]) for row in body["top_inviters"]] == [
        (n, n) for n in range(12, 2, -1)
    ]


@pytest.mark.parametrize("days", ["0", "366", "x", "-1"])
def test_stats_refuse_a_number_of_days_out_of_range(
    admin: Callable[..., httpx.Response], days: str
) -> None:
    response = admin("GET", STATS, params={"days": days})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_days"


def test_the_audit_log_pages_by_id_and_filters_by_type_and_user(
    admin: Callable[..., httpx.Response], code_of: CodeOf, activate: Activate
) -> None:
    code = code_of(1)
    assert activate(2, code).status_code == 200
    assert activate(3, "Zz9Zz9").status_code == 404
    assert activate(3, code).status_code == 200
    assert activate(4, "Yy8Yy8").status_code == 404

    everything = admin("GET", AUDIT).json()["items"]
    first = admin("GET", AUDIT, params={"limit": 2}).json()["items"]
    rest = admin("GET", AUDIT, params={"before_id": first[-1]["id"]}).json()["items"]
    refused = admin("GET", AUDIT, params={"type": "activation.refused"}).json()["items"]
    of_3 = admin("GET", AUDIT, params={"user_id": 3}).json()["items"]
    unknown_type = admin("GET", AUDIT, params={"type": "sign_in.succeeded"}).json()["items"]

    assert [(row["type"], row["subject_id"]) for row in everything] == [
        ("activation.refused", 4),
        ("activation.succeeded", 3),
        ("activation.refused", 3),
        ("activation.succeeded", 2),
    ]
    ids = [row["id"] for row in everything]
    assert ids == sorted(ids, reverse=True)
    assert first + rest == everything
    assert [row["subject_id"] for row in refused] == [4, 3]
    assert [row["type"] for row in of_3] == ["activation.succeeded", "activation.refused"]
    assert unknown_type == []
    for row in everything:
        assert datetime.fromisoformat(row["at"]).tzinfo is not None
        # The shape auth reads back (common.audit.Event), field for field.
        assert set(row) == {field.name for field in fields(Event)}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"before_id": 0}, {"user_id": "x"}, {"type": "t" * 41}],
)
def test_the_audit_log_refuses_nonsense_parameters(
    admin: Callable[..., httpx.Response], params: dict[str, Any]
) -> None:
    response = admin("GET", AUDIT, params=params)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_query"
