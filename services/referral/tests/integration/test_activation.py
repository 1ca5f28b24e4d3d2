"""POST /referral_system/api_invite_code_activation/: every rule, in the contract's order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.tokens import StaticKeySource
from referral_service import service
from referral_service.deps import ReferralState
from referral_service.main import create_app

# call(async_function, *args, **kwargs) on the app's event loop (the `call` fixture).
Call = Callable[..., Any]

ACTIVATE = "/referral_system/api_invite_code_activation/"
PROFILE = "/internal/referral/profile"

Activate = Callable[[int, object], httpx.Response]
CodeOf = Callable[[int], str]
Bearer = Callable[[int], dict[str, str]]


pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


def test_activation_links_the_user_to_the_code_owner(
    client: TestClient, code_of: CodeOf, activate: Activate, bearer: Bearer
) -> None:
    code = code_of(1)
    before = datetime.now(UTC)

    response = activate(2, code)

    assert response.status_code == 200
    body = response.json()
    assert body["activated_invite_code"] == code
    assert body["activated_at"].endswith("Z")
    activated_at = datetime.fromisoformat(body["activated_at"])
    assert before - timedelta(seconds=1) <= activated_at <= datetime.now(UTC)
    invitee = client.get(PROFILE, headers=bearer(2)).json()
    assert invitee["activated_invite_code"] == code
    inviter = client.get(PROFILE, headers=bearer(1)).json()
    assert inviter["invited_count"] == 1
    assert inviter["invited_users"] == [
        {"id": 2, "phone": "9000000002", "activated_at": body["activated_at"]}
    ]


def test_a_user_seen_for_the_first_time_can_activate(
    client: TestClient, code_of: CodeOf, activate: Activate, bearer: Bearer
) -> None:
    response = activate(7, code_of(1))

    assert response.status_code == 200
    assert client.get(PROFILE, headers=bearer(7)).json()["invite_code"] != code_of(1)


def test_unknown_code_is_404(activate: Activate) -> None:
    response = activate(1, "Zz9Zz9")

    assert response.status_code == 404
    assert response.json()["code"] == "invite_code_not_found"


def test_codes_are_case_sensitive(call: Call, state: ReferralState, activate: Activate) -> None:
    call(
        service.ensure_member,
        state.engine,
        user_id=1,
        phone="9000000001",
        generate_code=lambda: "AbCd12",
    )

    assert activate(2, "aBcD12").json()["code"] == "invite_code_not_found"
    assert activate(2, "abcd12").json()["code"] == "invite_code_not_found"
    assert activate(2, "AbCd12").status_code == 200


def test_own_code_is_409(code_of: CodeOf, activate: Activate) -> None:
    response = activate(1, code_of(1))

    assert response.status_code == 409
    assert response.json()["code"] == "own_invite_code"


def test_another_code_after_an_activation_is_409_with_the_code_activated(
    code_of: CodeOf, activate: Activate
) -> None:
    first, second = code_of(1), code_of(3)
    assert activate(2, first).status_code == 200

    response = activate(2, second)

    assert response.status_code == 409
    assert response.json() == {
        "detail": response.json()["detail"],
        "code": "invite_code_already_activated",
        "activated_invite_code": first,
    }


def test_repeating_ones_own_activation_is_a_safe_retry(
    client: TestClient, code_of: CodeOf, activate: Activate, bearer: Bearer
) -> None:
    code = code_of(1)
    first = activate(2, code)

    again = [activate(2, code) for _ in range(3)]

    assert first.status_code == 200
    assert [response.status_code for response in again] == [200] * 3
    assert all(response.json() == first.json() for response in again)
    assert client.get(PROFILE, headers=bearer(1)).json()["invited_count"] == 1


def test_direct_cycle_is_refused(code_of: CodeOf, activate: Activate) -> None:
    assert activate(2, code_of(1)).status_code == 200  # 1 invited 2

    response = activate(1, code_of(2))

    assert response.status_code == 409
    assert response.json()["code"] == "referral_cycle"


def test_transitive_cycle_is_refused_but_an_outsider_may_join(
    code_of: CodeOf, activate: Activate
) -> None:
    assert activate(2, code_of(1)).status_code == 200  # 1 -> 2
    assert activate(3, code_of(2)).status_code == 200  # 2 -> 3
    assert activate(4, code_of(3)).status_code == 200  # 3 -> 4

    refused = activate(1, code_of(4))
    joined = activate(5, code_of(4))

    assert refused.status_code == 409
    assert refused.json()["code"] == "referral_cycle"
    assert joined.status_code == 200


def test_a_user_in_another_tree_may_invite_someone_elses_root(
    code_of: CodeOf, activate: Activate
) -> None:
    assert activate(2, code_of(1)).status_code == 200  # 1 -> 2
    assert activate(4, code_of(3)).status_code == 200  # 3 -> 4

    # 1, a root, joins under 4; the forest stays a forest: 3 -> 4 -> 1 -> 2.
    assert activate(1, code_of(4)).status_code == 200
    refused = activate(3, code_of(2))
    assert refused.status_code == 409
    assert refused.json()["code"] == "referral_cycle"


@pytest.mark.parametrize(
    ("setup", "attempt", "expected"),
    [
        # Own code is checked before "already activated".
        ("activated", "own", "own_invite_code"),
        # Existence is checked before "already activated".
        ("activated", "unknown", "invite_code_not_found"),
        # "Already activated" is checked before the cycle.
        ("activated_and_inviter", "cycle", "invite_code_already_activated"),
    ],
)
def test_checks_run_in_the_contract_order(
    code_of: CodeOf, activate: Activate, setup: str, attempt: str, expected: str
) -> None:
    assert activate(1, code_of(9)).status_code == 200  # 9 invited 1
    if setup == "activated_and_inviter":
        assert activate(2, code_of(1)).status_code == 200  # 1 invited 2
    code = {"own": code_of(1), "unknown": "nO5uch", "cycle": code_of(2)}[attempt]

    response = activate(1, code)

    assert response.json()["code"] == expected


MALFORMED_CODES: list[object] = [
    "abc12",  # 5 characters
    "abc1234",  # 7 characters
    "",
    "\u0430\u0431\u0432123",  # Cyrillic letters
    "\u00e1bc123",  # Latin letter with an accent
    "abc\uff11\uff12\uff13",  # full-width digits
    "abc12\u0663",  # Arabic-Indic digit
    "abc-12",
    "abc 12",
    "abc12!",
    "abc12\n",
    123456,
    True,
    None,
    ["abc123"],
    {"code": "abc123"},
]


def test_malformed_codes_are_422(activate: Activate) -> None:
    for value in MALFORMED_CODES:
        response = activate(1, value)
        assert response.status_code == 422, value
        body = response.json()
        assert body["code"] == "invalid_invite_code_format", value
        assert body["errors"]


def test_a_body_without_invite_code_is_422(client: TestClient, bearer: Bearer) -> None:
    for payload in ({}, {"code": "abc123"}, [], "abc123", None):
        response = client.post(ACTIVATE, json=payload, headers=bearer(1))
        assert response.status_code == 422, payload
        assert response.json()["code"] == "invalid_invite_code_format"


def test_invalid_json_is_422(client: TestClient, bearer: Bearer) -> None:
    headers = {**bearer(1), "content-type": "application/json"}
    response = client.post(ACTIVATE, content=b'{"invite_code": ', headers=headers)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


def test_a_well_formed_code_is_looked_up_not_rejected(activate: Activate) -> None:
    for code in ("AAAAAA", "zzzzzz", "000000", "a1B2c3"):
        assert activate(1, code).json()["code"] == "invite_code_not_found"


def test_unauthenticated_activation_is_401_before_the_body_is_judged(
    client: TestClient,
) -> None:
    response = client.post(ACTIVATE, json={"invite_code": "bad"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_refused_activations_are_capped_per_user(
    make_settings: Callable[..., Any], jwks: dict[str, Any], bearer: Bearer
) -> None:
    app = create_app(
        make_settings(activation_failures_per_user_per_hour=3), key_source=StaticKeySource(jwks)
    )
    with TestClient(app) as client:
        code = client.get(PROFILE, headers=bearer(1)).json()["invite_code"]

        def activate_as(user_id: int, invite_code: str) -> httpx.Response:
            return client.post(ACTIVATE, json={"invite_code": invite_code}, headers=bearer(user_id))

        guesses = [activate_as(2, guess).status_code for guess in ("Zz9Zz1", "Zz9Zz2", "Zz9Zz3")]
        capped = activate_as(2, code)  # even the right code: the cap stops guessing, not users

        assert guesses == [404, 404, 404]
        assert capped.status_code == 429 and capped.json()["code"] == "too_many_requests"
        assert 3590 <= int(capped.headers["retry-after"]) <= 3600
        # Others are not affected, and malformed codes (422) never reach the cap.
        assert activate_as(3, code).status_code == 200
        for _ in range(5):
            assert activate_as(4, "short").status_code == 422
        assert activate_as(4, code).status_code == 200
