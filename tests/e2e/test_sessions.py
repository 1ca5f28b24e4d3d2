"""The caller's sessions through the public URLs, in both run modes: listed, one ended, all
ended; an ended session's access token is refused by every service at once."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.client import Session, profile, sign_in

pytestmark = pytest.mark.e2e

SESSIONS = "/authentication/api_sessions/"
LOGOUT_ALL = "/authentication/api_logout_all/"
# One signed-in URL of each service.
EVERY_SERVICE = (
    SESSIONS,
    "/profile/api_profile/",
    "/referral_system/api_invited_users/",
    "/referral_system/api_referral_stats/",
)


def refused_everywhere(client: httpx.Client, session: Session) -> bool:
    return all(client.get(url, headers=session.headers).status_code == 401 for url in EVERY_SERVICE)


def accepted_everywhere(client: httpx.Client, session: Session) -> bool:
    return all(client.get(url, headers=session.headers).status_code == 200 for url in EVERY_SERVICE)


def test_a_session_ended_from_another_device_is_refused_by_every_service(
    client: httpx.Client,
) -> None:
    laptop = sign_in(client)
    phone = sign_in(client, laptop.phone)
    profile(client, phone)  # the other services have seen and remembered its token
    assert accepted_everywhere(client, phone)

    items = client.get(SESSIONS, headers=laptop.headers).json()["items"]
    assert [item["current"] for item in items] == [False, True]
    response = client.delete(f"{SESSIONS}{items[0]['id']}/", headers=laptop.headers)

    assert response.status_code == 204, response.text
    assert refused_everywhere(client, phone)
    assert accepted_everywhere(client, laptop)


def test_logout_all_is_refused_by_every_service_for_every_session(client: httpx.Client) -> None:
    sessions = [sign_in(client)]
    sessions.append(sign_in(client, sessions[0].phone))
    for session in sessions:
        assert accepted_everywhere(client, session)

    response = client.post(LOGOUT_ALL, headers=sessions[1].headers)

    assert response.status_code == 204, response.text
    for session in sessions:
        assert refused_everywhere(client, session)


def test_unknown_session_urls_answer_in_the_error_shape(client: httpx.Client) -> None:
    session = sign_in(client)
    for path in (f"{SESSIONS}{'A' * 22}/", f"{SESSIONS}x/y/", SESSIONS.rstrip("/")):
        response = client.delete(path, headers=session.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] in ("session_not_found", "not_found"), response.text
