import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
DEV_SMS = "/authentication/api_dev_sms/"
PHONE = "9991234567"


def test_first_sign_in_registers_the_phone(client: TestClient, flow: Any) -> None:
    flow.request_code()
    response = client.post(OTP_INPUT, json={"otp": flow.read_code()})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["user"] == {"id": body["user"]["id"], "phone": PHONE}
    assert body["is_new_user"] is True
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "user",
        "is_new_user",
    }
    assert response.headers["cache-control"] == "no-store"


def test_the_next_sign_in_finds_the_same_user(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    flow = flow_for(make_client(otp_resend_cooldown_seconds=0))
    first = flow.sign_in()
    second = flow.sign_in()
    assert second["is_new_user"] is False
    assert second["user"] == first["user"]
    other = flow.sign_in("9990000001")
    assert other["is_new_user"] is True and other["user"]["id"] != first["user"]["id"]


def test_tokens_arrive_as_cookies_and_the_login_cookie_is_cleared(
    client: TestClient, flow: Any
) -> None:
    flow.request_code()
    response = client.post(OTP_INPUT, json={"otp": flow.read_code()})
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    access, refresh, login = cookies["access_token"], cookies["refresh_token"], cookies["login_id"]
    assert access.startswith(f"access_token={response.json()['access_token']};")
    assert "Path=/;" in access and "Max-Age=600" in access
    assert refresh.startswith(f"refresh_token={response.json()['refresh_token']};")
    assert "Path=/authentication/" in refresh and "Max-Age=2592000" in refresh
    for cookie in (access, refresh):
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=0" in login and "Path=/authentication/" in login
    assert "login_id" not in client.cookies


@pytest.mark.parametrize("locate", ["cookie", "login_id", "phone"])
def test_the_pending_login_is_found_by_cookie_login_id_or_phone(
    client: TestClient, flow: Any, locate: str
) -> None:
    login_id = flow.request_code()["login_id"]
    body: dict[str, str] = {"otp": flow.read_code()}
    if locate != "cookie":
        client.cookies.clear()
        body[locate] = login_id if locate == "login_id" else "+7 999 123-45-67"
    response = client.post(OTP_INPUT, json=body)
    assert response.status_code == 200, response.text


def test_number_is_an_alias_of_otp(client: TestClient, flow: Any) -> None:
    flow.request_code()
    assert client.post(OTP_INPUT, json={"number": flow.read_code()}).status_code == 200


def test_wrong_codes_count_down_and_then_the_code_is_void(client: TestClient, flow: Any) -> None:
    flow.request_code()
    code = flow.read_code()
    answers = [client.post(OTP_INPUT, json={"otp": flow.wrong(code)}) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [a.json()["code"] for a in answers] == ["invalid_otp"] * 3
    assert [a.json()["attempts_left"] for a in answers] == [2, 1, 0]
    late = client.post(OTP_INPUT, json={"otp": code})
    assert late.status_code == 410 and late.json()["code"] == "otp_expired"
    assert client.get(DEV_SMS, params={"phone": PHONE}).status_code == 404


def test_configured_tries_are_honoured(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_max_attempts=1)
    flow = flow_for(client)
    flow.request_code()
    wrong = client.post(OTP_INPUT, json={"otp": flow.wrong(flow.read_code())})
    assert wrong.status_code == 400 and wrong.json()["attempts_left"] == 0
    assert client.post(OTP_INPUT, json={"otp": "0000"}).status_code == 410


def gone_because(response: Any) -> str:
    assert response.status_code == 410, response.text
    assert response.json()["code"] == "otp_expired"
    return str(response.json()["reason"])


def test_a_code_expires_says_so_and_can_be_replaced_at_once(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_ttl_seconds=1, otp_resend_cooldown_seconds=60)
    flow = flow_for(client)
    login_id = flow.request_code()["login_id"]
    code = flow.read_code()
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 429
    time.sleep(1.2)
    client.cookies.clear()  # the login_id cookie lives as long as the code
    assert gone_because(client.post(OTP_INPUT, json={"otp": code, "phone": PHONE})) == "expired"
    by_id = client.post(OTP_INPUT, json={"otp": code, "login_id": login_id})
    assert gone_because(by_id) == "expired"
    assert client.get(DEV_SMS, params={"phone": PHONE}).status_code == 404
    # The cooldown guards a live code only: an expired one is replaced at once.
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200


@pytest.mark.parametrize("locate", ["cookie", "login_id", "phone"])
def test_a_code_void_of_wrong_tries_says_so_and_can_be_replaced_at_once(
    client: TestClient, flow: Any, locate: str
) -> None:
    login_id = flow.request_code()["login_id"]
    code = flow.read_code()
    locator = {"cookie": {}, "login_id": {"login_id": login_id}, "phone": {"phone": PHONE}}
    for _ in range(3):
        client.post(OTP_INPUT, json={"otp": flow.wrong(code), **locator[locate]})
    late = client.post(OTP_INPUT, json={"otp": code, **locator[locate]})
    assert gone_because(late) == "attempts_exhausted"
    # The default cooldown is 60 s; it guarded the live code only.
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 429


def test_replacing_dead_codes_still_counts_towards_the_hourly_cap(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_max_per_phone_per_hour=2, otp_max_attempts=1)
    flow = flow_for(client)
    for _ in range(2):
        flow.request_code()
        client.post(OTP_INPUT, json={"otp": flow.wrong(flow.read_code()), "phone": PHONE})
    capped = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert capped.status_code == 429 and int(capped.headers["retry-after"]) > 3500


def test_after_a_sign_in_no_login_is_pending(client: TestClient, flow: Any) -> None:
    flow.sign_in()
    client.cookies.clear()
    again = client.post(OTP_INPUT, json={"otp": "1234", "phone": PHONE})
    assert gone_because(again) == "no_pending_login"


def test_a_new_code_voids_the_previous_one(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0)
    flow = flow_for(client)
    old_login = flow.request_code()["login_id"]
    old_code = flow.read_code()
    flow.request_code()
    new_code = flow.read_code()
    stale = client.post(OTP_INPUT, json={"otp": old_code, "login_id": old_login})
    assert stale.status_code == 410
    if old_code != new_code:
        # The old code is no good for the new login either.
        assert client.post(OTP_INPUT, json={"otp": old_code}).status_code == 400
    assert client.post(OTP_INPUT, json={"otp": new_code}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"otp": "1234"},
        {"otp": "1234", "login_id": "no-such-login"},
        {"otp": "1234", "login_id": "A" * 32},
        {"otp": "1234", "phone": PHONE},
    ],
)
def test_no_pending_login_is_gone(client: TestClient, body: dict[str, str]) -> None:
    response = client.post(OTP_INPUT, json=body)
    # A well-formed login id that names nothing may be one whose time ran out.
    expected = "expired" if body.get("login_id") == "A" * 32 else "no_pending_login"
    assert gone_because(response) == expected


@pytest.mark.parametrize(
    "otp",
    ["", "123", "12345", "12a4", "12 4", "\u0661\u0662\u0663\u0664", "\uff11234", "1" * 10_000],
)
def test_malformed_codes_are_refused_before_anything_else(client: TestClient, otp: str) -> None:
    response = client.post(OTP_INPUT, json={"otp": otp})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_otp_format"


def test_the_code_length_follows_the_setting(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_length=6)
    flow = flow_for(client)
    flow.request_code()
    code = flow.read_code()
    assert client.post(OTP_INPUT, json={"otp": code[:4]}).json()["code"] == "invalid_otp_format"
    assert client.post(OTP_INPUT, json={"otp": code}).status_code == 200


def test_a_malformed_phone_in_the_body_is_invalid_phone(client: TestClient) -> None:
    response = client.post(OTP_INPUT, json={"otp": "1234", "phone": "12"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_phone"


def test_ten_failures_lock_the_phone_for_an_hour(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0)
    flow = flow_for(client)
    statuses = []
    for _ in range(4):
        flow.request_code()
        code = flow.read_code()
        statuses += [client.post(OTP_INPUT, json={"otp": flow.wrong(code)}) for _ in range(3)]
    # 3 + 3 + 3 wrong tries, then the 10th failure locks (the 4th code's first try).
    assert [r.status_code for r in statuses[:10]] == [400] * 9 + [429]
    assert statuses[9].json()["code"] == "too_many_requests"
    assert 3590 <= int(statuses[9].headers["retry-after"]) <= 3600
    assert all(r.status_code == 429 for r in statuses[10:])

    locked_send = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert locked_send.status_code == 429 and int(locked_send.headers["retry-after"]) > 3500
    locked_try = client.post(OTP_INPUT, json={"otp": "1234", "phone": PHONE})
    assert locked_try.status_code == 429 and int(locked_try.headers["retry-after"]) > 3500
    # Other phones are not affected, nor is this phone from another address.
    assert flow.sign_in("9990000001")["is_new_user"] is True
    elsewhere = flow_for(make_client(peer="198.51.100.20", otp_resend_cooldown_seconds=0))
    assert elsewhere.sign_in()["user"]["phone"] == PHONE


def test_a_success_resets_the_failure_count(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0, otp_lockout_failures=3)
    flow = flow_for(client)
    for _ in range(3):
        flow.request_code()
        code = flow.read_code()
        assert client.post(OTP_INPUT, json={"otp": flow.wrong(code)}).status_code == 400
        assert client.post(OTP_INPUT, json={"otp": flow.wrong(code)}).status_code == 400
        assert client.post(OTP_INPUT, json={"otp": code}).status_code == 200
