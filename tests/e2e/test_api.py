"""The public API of CONTRACT.md §4, from outside, in both run modes."""

from __future__ import annotations

import re
import time
from datetime import datetime

import httpx
import pytest

from tests.e2e.client import (
    activate,
    new_phone,
    profile,
    read_sms_code,
    request_code,
    sign_in,
)
from tests.e2e.conftest import RESEND_COOLDOWN_SECONDS

pytestmark = pytest.mark.e2e

INVITE_CODE = re.compile(r"^[A-Za-z0-9]{6}$")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return dict(body)


# --- sign-in -------------------------------------------------------------------------------


def test_first_login_registers_and_the_next_recognises(client: httpx.Client) -> None:
    phone = new_phone()
    first = sign_in(client, phone)
    time.sleep(RESEND_COOLDOWN_SECONDS)
    again = sign_in(client, phone)
    assert first.is_new_user and not again.is_new_user
    assert first.user_id == again.user_id


def test_number_input_answers_the_contract_body_and_cookie(client: httpx.Client) -> None:
    phone = new_phone()
    response = client.post(
        "/authentication/api_number_input/",
        json={"phone": f"+7 ({phone[:3]}) {phone[3:6]}-{phone[6:8]}-{phone[8:]}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == phone
    assert (body["otp_length"], body["expires_in"]) == (4, 300)
    assert body["resend_in"] == RESEND_COOLDOWN_SECONDS
    cookie = response.headers["set-cookie"]
    assert "login_id=" in cookie and "HttpOnly" in cookie and "Path=/authentication/" in cookie


@pytest.mark.parametrize(
    "written", ["8 {0} {1} {2} {3}", "7{0}{1}{2}{3}", "+7 ({0}) {1}-{2}-{3}", "{0}{1}{2}{3}"]
)
def test_phone_formats_normalise(client: httpx.Client, written: str) -> None:
    phone = new_phone()
    typed = written.format(phone[:3], phone[3:6], phone[6:8], phone[8:])
    response = client.post("/authentication/api_number_input/", json={"number": typed})
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == phone


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "12345"},
        {"phone": "99912345678901"},
        {"phone": "٩٩٩١٢٣٤٥٦٧"},
        {"phone": 9991234567},
        {},
        [],
    ],
)
def test_bad_phones_are_invalid_phone(client: httpx.Client, body: object) -> None:
    response = client.post("/authentication/api_number_input/", json=body)
    assert_error(response, 422, "invalid_phone")


def test_oversized_bodies_are_refused_before_any_service_reads_them(
    client: httpx.Client,
) -> None:
    response = client.post("/authentication/api_number_input/", json={"phone": "x" * 100_000})
    assert_error(response, 413, "payload_too_large")


def test_resend_cooldown_answers_429_with_retry_after(client: httpx.Client) -> None:
    phone = new_phone()
    request_code(client, phone)
    response = client.post("/authentication/api_number_input/", json={"phone": phone})
    assert_error(response, 429, "too_many_requests")
    assert 0 < int(response.headers["retry-after"]) <= RESEND_COOLDOWN_SECONDS


def test_wrong_codes_count_down_then_the_code_is_void(client: httpx.Client) -> None:
    phone = new_phone()
    sent = request_code(client, phone)
    code = read_sms_code(client, phone)
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    for left in (2, 1):
        response = client.post("/authentication/api_otp_input/", json={"otp": wrong})
        assert assert_error(response, 400, "invalid_otp")["attempts_left"] == left
    third = client.post("/authentication/api_otp_input/", json={"otp": wrong})
    assert third.status_code in (400, 410)
    late = client.post(
        "/authentication/api_otp_input/", json={"otp": code, "login_id": sent["login_id"]}
    )
    assert_error(late, 410, "otp_expired")


@pytest.mark.parametrize("otp", ["12", "12345", "12a4", "١٢٣٤", 1234, None])
def test_malformed_codes_are_invalid_otp_format(client: httpx.Client, otp: object) -> None:
    request_code(client, new_phone())
    response = client.post("/authentication/api_otp_input/", json={"otp": otp})
    assert_error(response, 422, "invalid_otp_format")


def test_a_code_without_a_pending_login_is_expired(client: httpx.Client) -> None:
    response = client.post(
        "/authentication/api_otp_input/", json={"otp": "1234", "phone": new_phone()}
    )
    assert_error(response, 410, "otp_expired")


def test_the_code_works_with_the_cookie_alone_and_the_number_alias(client: httpx.Client) -> None:
    phone = new_phone()
    request_code(client, phone)  # sets the login_id cookie on this client
    response = client.post(
        "/authentication/api_otp_input/", json={"number": read_sms_code(client, phone)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["user"]["phone"] == phone
    assert {"access_token", "refresh_token"} <= set(client.cookies.keys())


def test_the_dev_inbox_has_nothing_for_a_phone_without_a_code(client: httpx.Client) -> None:
    response = client.get("/authentication/api_dev_sms/", params={"phone": new_phone()})
    assert_error(response, 404, "no_sms")


# --- tokens --------------------------------------------------------------------------------


REFRESH = "/authentication/api_token_refresh/"


def test_refresh_rotates_and_an_older_generation_revokes_the_whole_session(
    client: httpx.Client,
) -> None:
    session = sign_in(client)
    rotated = client.post(REFRESH, json={"refresh_token": session.refresh_token})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != session.refresh_token and "is_new_user" not in second
    client.cookies.clear()
    third = client.post(REFRESH, json={"refresh_token": second["refresh_token"]}).json()

    # The first token, two generations back: someone else holds a copy.
    assert_error(
        client.post(REFRESH, json={"refresh_token": session.refresh_token}),
        401,
        "invalid_refresh_token",
    )

    # The reuse revoked the whole session: the newest refresh token, and every access token
    # of it, in every service at once.
    refresh = client.post(REFRESH, json={"refresh_token": third["refresh_token"]})
    assert_error(refresh, 401, "invalid_refresh_token")
    for access in (session.access_token, second["access_token"], third["access_token"]):
        headers = {"Authorization": f"Bearer {access}"}
        assert_error(client.get("/profile/api_profile/", headers=headers), 401, "not_authenticated")
        assert_error(
            client.post(
                "/referral_system/api_invite_code_activation/",
                json={"invite_code": "AAAAAA"},
                headers=headers,
            ),
            401,
            "not_authenticated",
        )


def test_two_tabs_refreshing_with_one_token_stay_signed_in(client: httpx.Client) -> None:
    session = sign_in(client)
    client.cookies.clear()
    first = client.post(REFRESH, json={"refresh_token": session.refresh_token})
    second = client.post(REFRESH, json={"refresh_token": session.refresh_token})
    assert first.status_code == second.status_code == 200
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    for answer in (first, second):
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert client.get("/profile/api_profile/", headers=headers).status_code == 200


def test_logout_kills_the_access_and_refresh_tokens_everywhere(client: httpx.Client) -> None:
    session = sign_in(client)
    profile(client, session)
    response = client.post("/authentication/api_logout/", headers=session.headers)
    assert response.status_code == 204
    client.cookies.clear()
    assert_error(
        client.get("/profile/api_profile/", headers=session.headers), 401, "not_authenticated"
    )
    assert_error(activate(client, session, "AAAAAA"), 401, "not_authenticated")
    assert_error(
        client.post(
            "/authentication/api_token_refresh/", json={"refresh_token": session.refresh_token}
        ),
        401,
        "invalid_refresh_token",
    )


def test_jwks_publishes_an_eddsa_key_with_its_kid(client: httpx.Client) -> None:
    keys = client.get("/authentication/.well-known/jwks.json").json()["keys"]
    assert keys and all(key["kty"] == "OKP" and key["crv"] == "Ed25519" for key in keys)
    assert all(key["kid"] for key in keys) and all("d" not in key for key in keys)


# --- profile and referrals -----------------------------------------------------------------


def test_profile_requires_a_token(client: httpx.Client) -> None:
    assert_error(client.get("/profile/api_profile/"), 401, "not_authenticated")
    assert_error(
        client.get("/profile/api_profile/", headers={"Authorization": "Bearer nonsense"}),
        401,
        "not_authenticated",
    )


def test_profile_shows_the_user_and_an_invite_code_from_the_first_login(
    client: httpx.Client,
) -> None:
    session = sign_in(client)
    body = profile(client, session)
    assert body["id"] == session.user_id and body["phone"] == session.phone
    assert INVITE_CODE.match(body["invite_code"])
    assert body["activated_invite_code"] is None
    assert (body["invited_users"], body["invited_count"], body["invited_users_next"]) == (
        [],
        0,
        None,
    )
    assert profile(client, session)["invite_code"] == body["invite_code"]


def test_activation_and_every_refusal(client: httpx.Client) -> None:
    alice, bob, carol = sign_in(client), sign_in(client), sign_in(client)
    alice_code = profile(client, alice)["invite_code"]
    bob_code = profile(client, bob)["invite_code"]
    carol_code = profile(client, carol)["invite_code"]

    assert_error(activate(client, bob, "abc"), 422, "invalid_invite_code_format")
    assert_error(activate(client, bob, "abc!de"), 422, "invalid_invite_code_format")
    assert_error(activate(client, bob, 123456), 422, "invalid_invite_code_format")
    # One code in 62**6 is drawn: a fixed one is unknown to any run's few hundred users.
    assert_error(activate(client, bob, "Zz9xYw"), 404, "invite_code_not_found")
    assert_error(activate(client, bob, bob_code), 409, "own_invite_code")
    if alice_code.swapcase() != alice_code:  # all digits, 1 code in 55,000: nothing to swap
        # Codes are case-sensitive: the same letters in the other case are another code.
        assert_error(activate(client, bob, alice_code.swapcase()), 404, "invite_code_not_found")

    done = activate(client, bob, alice_code)
    assert done.status_code == 200, done.text
    assert done.json()["activated_invite_code"] == alice_code
    datetime.fromisoformat(done.json()["activated_at"].replace("Z", "+00:00"))

    again = assert_error(activate(client, bob, carol_code), 409, "invite_code_already_activated")
    assert again["activated_invite_code"] == alice_code
    # alice invited bob, so alice taking bob's code would close a cycle.
    assert_error(activate(client, alice, bob_code), 409, "referral_cycle")

    bob_profile, alice_profile = profile(client, bob), profile(client, alice)
    assert bob_profile["activated_invite_code"] == alice_code
    assert alice_profile["invited_count"] == 1
    [invited] = alice_profile["invited_users"]
    assert (invited["id"], invited["phone"]) == (bob.user_id, bob.phone)


def test_cycles_through_others_are_refused(client: httpx.Client) -> None:
    a, b, c = sign_in(client), sign_in(client), sign_in(client)
    code = {s.user_id: profile(client, s)["invite_code"] for s in (a, b, c)}
    assert activate(client, b, code[a.user_id]).status_code == 200  # a invited b
    assert activate(client, c, code[b.user_id]).status_code == 200  # b invited c
    assert_error(activate(client, a, code[c.user_id]), 409, "referral_cycle")


def test_invited_users_page_past_one_hundred(client: httpx.Client) -> None:
    owner = sign_in(client)
    code = profile(client, owner)["invite_code"]
    invitees = [sign_in(client) for _ in range(103)]
    for invitee in invitees:
        assert activate(client, invitee, code).status_code == 200

    body = profile(client, owner)
    assert body["invited_count"] == 103
    first_page = body["invited_users"]
    assert len(first_page) == 100
    assert first_page[0]["id"] == invitees[-1].user_id  # newest first
    assert body["invited_users_next"]

    rest = client.get(body["invited_users_next"], headers=owner.headers)
    assert rest.status_code == 200
    page = rest.json()
    assert page["next"] is None
    seen = [u["id"] for u in first_page] + [u["id"] for u in page["items"]]
    assert seen == [s.user_id for s in reversed(invitees)]

    small = client.get(
        "/referral_system/api_invited_users/", params={"limit": 10}, headers=owner.headers
    ).json()
    assert len(small["items"]) == 10 and small["next"]
    assert_error(
        client.get(
            "/referral_system/api_invited_users/",
            params={"cursor": "not-a-cursor"},
            headers=owner.headers,
        ),
        422,
        "invalid_cursor",
    )


def test_the_csv_export_lists_an_invitee_after_an_activation(client: httpx.Client) -> None:
    owner, invitee = sign_in(client), sign_in(client)
    csv_url = "/referral_system/api_invited_users.csv"
    assert client.get(csv_url, headers=owner.headers).text == "id,phone,activated_at\r\n"

    done = activate(client, invitee, profile(client, owner)["invite_code"])
    assert done.status_code == 200, done.text
    # As a page's plain link sends it: the access cookie alone.
    response = client.get(csv_url, headers={"Cookie": f"access_token={owner.access_token}"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="invited_users.csv"'
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == (
        f"id,phone,activated_at\r\n"
        f"{invitee.user_id},{invitee.phone},{done.json()['activated_at']}\r\n"
    )
    assert_error(client.get(csv_url), 401, "not_authenticated")


# --- the browser's way: cookies ------------------------------------------------------------


def test_cookies_alone_carry_a_browser_session(client: httpx.Client, base_url: str) -> None:
    phone = new_phone()
    request_code(client, phone)
    client.post("/authentication/api_otp_input/", json={"otp": read_sms_code(client, phone)})
    assert client.get("/profile/api_profile/").status_code == 200
    origin = {"Origin": base_url}
    assert client.post("/authentication/api_token_refresh/", headers=origin).status_code == 200
    assert client.get("/profile/api_profile/").status_code == 200
    forged = client.post(
        "/referral_system/api_invite_code_activation/",
        json={"invite_code": "AAAAAA"},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert client.post("/authentication/api_logout/", headers=origin).status_code == 204
    assert client.get("/profile/api_profile/").status_code == 401


# --- the edges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/internal/referral/profile",
        "/metrics",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/authentication/../internal/referral/profile",
        "/authentication/%2e%2e/metrics",
        # Only the pages and /static/ of frontend/ are served, nothing else in that folder.
        "/README.md",
        "/tests/test_static_pages.py",
        "/static/../README.md",
        "/number_input/index.html/../../README.md",
    ],
)
def test_internal_endpoints_are_not_public(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("page", ["/", "/number_input/", "/otp_input/", "/profile/"])
def test_pages_are_served_with_security_headers(client: httpx.Client, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("page", ["/number_input", "/otp_input", "/profile"])
def test_a_page_without_its_slash_moves_there(client: httpx.Client, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 301
    assert response.headers["location"] == f"{page}/"


def test_static_assets_are_served(client: httpx.Client) -> None:
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.css").status_code == 404


def test_request_ids_are_returned_and_kept(client: httpx.Client) -> None:
    response = client.get("/profile/api_profile/", headers={"X-Request-ID": "e2e-trace-1"})
    assert response.headers["x-request-id"] == "e2e-trace-1"
    assert client.get("/profile/api_profile/").headers["x-request-id"]


def test_malformed_bodies_get_the_error_shape_not_a_500(client: httpx.Client) -> None:
    url = "/authentication/api_number_input/"
    bad_json = client.post(url, content=b"{oops", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and bad_json.json()["code"]
    form = client.post(
        url,
        content=b"phone=9991234567",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
