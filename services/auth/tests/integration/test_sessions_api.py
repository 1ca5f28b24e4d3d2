"""The caller's sessions: listed with the current one marked, one ended, all ended; an ended
session's access tokens are refused at once and its refresh tokens stop working."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

SESSIONS = "/authentication/api_sessions/"
LOGOUT_ALL = "/authentication/api_logout_all/"
REFRESH = "/authentication/api_token_refresh/"
PHONE = "9991234567"
OTHER_PHONE = "9997654321"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def sign_in_on(client: TestClient, flow: Any, device: str, phone: str = PHONE) -> dict[str, Any]:
    """A sign-in from a browser whose User-Agent is `device`; its cookies are not kept."""
    client.headers["user-agent"] = device
    body = dict(flow.sign_in(phone))
    client.cookies.clear()
    return body


def listed(client: TestClient, token: str) -> list[dict[str, Any]]:
    response = client.get(SESSIONS, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return list(response.json()["items"])


def test_the_sessions_are_listed_newest_first_with_the_current_one_marked(
    client: TestClient, flow: Any
) -> None:
    laptop = sign_in_on(client, flow, "Laptop/1.0")
    phone = sign_in_on(client, flow, "Phone/2.0")
    sign_in_on(client, flow, "Elsewhere/3.0", OTHER_PHONE)  # someone else's: never listed

    items = listed(client, laptop["access_token"])

    assert [item["user_agent"] for item in items] == ["Phone/2.0", "Laptop/1.0"]
    assert [item["current"] for item in items] == [False, True]
    assert set(items[0]) == {"id", "created_at", "last_used_at", "user_agent", "current"}
    for item in items:
        assert datetime.fromisoformat(item["created_at"]) <= datetime.fromisoformat(
            item["last_used_at"]
        )
    assert [item["current"] for item in listed(client, phone["access_token"])] == [True, False]


def test_a_refresh_moves_last_used_at(client: TestClient, flow: Any) -> None:
    session = sign_in_on(client, flow, "Laptop/1.0")
    (before,) = listed(client, session["access_token"])
    refreshed = client.post(REFRESH, json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    (after,) = listed(client, refreshed.json()["access_token"])
    assert after["id"] == before["id"] and after["created_at"] == before["created_at"]
    assert after["last_used_at"] >= before["last_used_at"]


def test_ending_another_session_refuses_its_tokens_at_once_and_keeps_this_one(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    laptop = sign_in_on(client, flow, "Laptop/1.0")
    phone = sign_in_on(client, flow, "Phone/2.0")
    phone_id = next(i["id"] for i in listed(client, laptop["access_token"]) if not i["current"])

    response = client.delete(f"{SESSIONS}{phone_id}/", headers=bearer(laptop["access_token"]))

    assert response.status_code == 204, response.text
    assert "set-cookie" not in response.headers  # not this device's session
    assert not accepted(phone["access_token"])
    assert client.get(SESSIONS, headers=bearer(phone["access_token"])).status_code == 401
    gone = client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    assert gone.status_code == 401 and gone.json()["code"] == "invalid_refresh_token"
    assert accepted(laptop["access_token"])
    assert [i["user_agent"] for i in listed(client, laptop["access_token"])] == ["Laptop/1.0"]
    # Ended already: there is no such session any more.
    again = client.delete(f"{SESSIONS}{phone_id}/", headers=bearer(laptop["access_token"]))
    assert again.status_code == 404 and again.json()["code"] == "session_not_found"


def test_ending_the_current_session_clears_the_cookies(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    body = flow.sign_in()  # cookies kept: the browser's case
    (item,) = listed(client, body["access_token"])

    response = client.delete(f"{SESSIONS}{item['id']}/")

    assert response.status_code == 204, response.text
    cleared = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert {"access_token", "refresh_token"} <= cleared
    assert not accepted(body["access_token"])


def test_someone_elses_session_cannot_be_ended_or_told_apart_from_none(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    mine = sign_in_on(client, flow, "Laptop/1.0")
    theirs = sign_in_on(client, flow, "Phone/2.0", OTHER_PHONE)
    (their_session,) = listed(client, theirs["access_token"])

    for session_id in (their_session["id"], "A" * 22, "not a session id!", "x" * 300):
        response = client.delete(f"{SESSIONS}{session_id}/", headers=bearer(mine["access_token"]))
        assert response.status_code in (404,), (session_id, response.text)
        assert response.json()["code"] in ("session_not_found", "not_found"), response.text
    assert accepted(theirs["access_token"])


def test_logout_all_ends_every_session_of_the_caller_only(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    devices = [sign_in_on(client, flow, f"Device/{n}") for n in range(3)]
    other = sign_in_on(client, flow, "Phone/2.0", OTHER_PHONE)

    response = client.post(LOGOUT_ALL, headers=bearer(devices[0]["access_token"]))

    assert response.status_code == 204, response.text
    cleared = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert {"access_token", "refresh_token"} <= cleared
    for device in devices:
        assert not accepted(device["access_token"])
        refused = client.post(REFRESH, json={"refresh_token": device["refresh_token"]})
        assert refused.status_code == 401
    assert accepted(other["access_token"])
    assert len(listed(client, other["access_token"])) == 1
    # A new sign-in afterwards is a session of its own, the only one.
    fresh = sign_in_on(client, flow, "Laptop/9.0")
    assert [i["user_agent"] for i in listed(client, fresh["access_token"])] == ["Laptop/9.0"]


def test_the_session_routes_need_a_live_access_token(client: TestClient, flow: Any) -> None:
    assert client.get(SESSIONS).status_code == 401
    assert client.post(LOGOUT_ALL).status_code == 401
    assert client.delete(f"{SESSIONS}{'A' * 22}/").status_code == 401
    body = sign_in_on(client, flow, "Laptop/1.0")
    assert client.post(LOGOUT_ALL, headers=bearer(body["access_token"])).status_code == 204
    # The token of an ended session is refused by the routes that end sessions, too.
    refused = client.get(SESSIONS, headers=bearer(body["access_token"]))
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"


def test_a_cross_site_cookie_request_cannot_end_sessions(client: TestClient, flow: Any) -> None:
    flow.sign_in()  # the cookies a browser would send along
    response = client.post(LOGOUT_ALL, headers={"origin": "https://evil.example"})
    assert response.status_code == 403, response.text
    assert client.get(SESSIONS).status_code == 200  # still signed in
