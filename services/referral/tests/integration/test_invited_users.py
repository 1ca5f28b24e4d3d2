"""GET /referral_system/api_invited_users/ and the first page in /internal/referral/profile."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from common.tokens import StaticKeySource
from referral_service import repository, service
from referral_service.deps import ReferralState
from referral_service.main import create_app

# call(async_function, *args, **kwargs) on the app's event loop (the `call` fixture).
Call = Callable[..., Any]

INVITED = "/referral_system/api_invited_users/"
PROFILE = "/internal/referral/profile"

Bearer = Callable[[int], dict[str, str]]


pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


def _phone(user_id: int) -> str:
    return f"9{user_id:09d}"


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def walk(client: TestClient, headers: dict[str, str], url: str) -> list[list[int]]:
    """Follow `next` from `url` to the end; the id lists of every page."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(ids(response.json()))
        next_url = response.json()["next"]
    return pages


def test_no_invitees_is_an_empty_last_page(client: TestClient, bearer: Bearer) -> None:
    response = client.get(INVITED, headers=bearer(1))

    assert response.status_code == 200
    assert response.json() == {"items": [], "next": None}


def test_items_are_newest_first_with_id_phone_and_time(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3, 4])

    items = client.get(INVITED, headers=bearer(1)).json()["items"]

    assert [(item["id"], item["phone"]) for item in items] == [
        (4, "9000000004"),
        (3, "9000000003"),
        (2, "9000000002"),
    ]
    times = [datetime.fromisoformat(item["activated_at"]) for item in items]
    assert all(item["activated_at"].endswith("Z") for item in items)
    assert times == sorted(times, reverse=True)


def test_pages_follow_next_until_null(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3, 4, 5, 6])

    first = client.get(INVITED, params={"limit": 2}, headers=bearer(1)).json()
    parts = urlsplit(first["next"])

    assert parts.path == INVITED
    assert parse_qs(parts.query)["limit"] == ["2"]
    assert walk(client, bearer(1), f"{INVITED}?limit=2") == [[6, 5], [4, 3], [2]]
    # A full last page says so: no empty page after it.
    assert walk(client, bearer(1), f"{INVITED}?limit=5") == [[6, 5, 4, 3, 2]]


def test_cursor_is_stable_when_new_invitees_arrive_between_pages(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3, 4, 5, 6])
    first = client.get(INVITED, params={"limit": 2}, headers=bearer(1)).json()
    assert ids(first) == [6, 5]

    invite(1, [7, 8])

    assert walk(client, bearer(1), first["next"]) == [[4, 3], [2]]
    assert ids(client.get(INVITED, params={"limit": 2}, headers=bearer(1)).json()) == [8, 7]


def test_equal_activation_times_are_ordered_by_id_and_never_lost(
    client: TestClient, bearer: Bearer, call: Call, state: ReferralState
) -> None:
    moment = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    inviter = call(service.ensure_member, state.engine, user_id=1, phone=_phone(1))
    for user_id in (2, 3, 4, 5, 6):
        call(service.ensure_member, state.engine, user_id=user_id, phone=_phone(user_id))
        result = call(
            repository.activate,
            state.engine,
            invitee_id=user_id,
            invite_code=inviter.invite_code,
            now=moment,
        )
        assert result.outcome is repository.Outcome.ACTIVATED

    assert walk(client, bearer(1), f"{INVITED}?limit=2") == [[6, 5], [4, 3], [2]]


def test_more_than_a_page_of_invitees(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invitees = list(range(2, 152))
    invite(1, invitees)

    pages = walk(client, bearer(1), INVITED)
    me = client.get(PROFILE, headers=bearer(1)).json()

    assert [len(page) for page in pages] == [100, 50]
    assert [user_id for page in pages for user_id in page] == invitees[::-1]
    assert me["invited_count"] == 150
    assert [item["id"] for item in me["invited_users"]] == pages[0]
    assert me["invited_users_next"] == client.get(INVITED, headers=bearer(1)).json()["next"]
    assert parse_qs(urlsplit(me["invited_users_next"]).query)["limit"] == ["100"]
    assert walk(client, bearer(1), me["invited_users_next"]) == [pages[1]]


def test_only_direct_invitees_are_listed(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2])
    invite(2, [3])

    assert ids(client.get(INVITED, headers=bearer(1)).json()) == [2]
    assert ids(client.get(INVITED, headers=bearer(2)).json()) == [3]
    assert ids(client.get(INVITED, headers=bearer(3)).json()) == []


def test_a_bad_cursor_is_422(
    client: TestClient, bearer: Bearer, invite: Callable[[int, Iterable[int]], None]
) -> None:
    invite(1, [2, 3])
    for cursor in (
        "",
        "!!!",
        "bm90IGpzb24",
        "WzEsMl0x",
        "e30",
        "WyJhIiwxXQ",
        "W3RydWUsMV0",
        "a" * 65,
    ):
        response = client.get(INVITED, params={"cursor": cursor}, headers=bearer(1))
        assert response.status_code == 422, cursor
        assert response.json()["code"] == "invalid_cursor", cursor


def test_limit_outside_one_to_the_page_size_is_422(client: TestClient, bearer: Bearer) -> None:
    for path in (INVITED,):
        for limit in ("0", "-1", "101", "1.5", "abc", "", "99999999999999999999999"):
            response = client.get(path, params={"limit": limit}, headers=bearer(1))
            assert response.status_code == 422, (path, limit)
            assert response.json()["code"] == "invalid_limit", (path, limit)
        for limit in ("1", "100"):
            assert client.get(path, params={"limit": limit}, headers=bearer(1)).status_code == 200


def test_the_page_size_is_configurable(
    make_settings: Callable[..., Any],
    jwks: dict[str, Any],
    bearer: Bearer,
    invite: Callable[[int, Iterable[int]], None],
) -> None:
    invite(1, [2, 3, 4, 5])
    app = create_app(make_settings(invited_users_page_size=3), key_source=StaticKeySource(jwks))
    with TestClient(app) as client:
        assert walk(client, bearer(1), INVITED) == [[5, 4, 3], [2]]
        assert client.get(INVITED, params={"limit": 4}, headers=bearer(1)).status_code == 422
        assert len(client.get(PROFILE, headers=bearer(1)).json()["invited_users"]) == 3
