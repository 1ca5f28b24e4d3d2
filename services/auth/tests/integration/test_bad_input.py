"""No input gets a 500: every answer below is a 4xx in the contract's error shape.

Each test walks a list of inputs against one app, so a failure names the input that caused it.
"""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.app import MAX_BODY_BYTES

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
REFRESH = "/authentication/api_token_refresh/"
LOGOUT = "/authentication/api_logout/"
# Long, but under the body limit: it must be refused for what it is, not for its size.
HUGE = "9" * 10_000
JSON = {"content-type": "application/json"}

RAW_BODIES = [
    b"{not json",
    b'{"phone": "999',
    b"[]",
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"null",
    b"\xff\xfe\x00",
    b'{"phone": "\\ud800"}',
    b'{"otp": {"nested": ["deep"]}}',
    b"[" * 5_000 + b"]" * 5_000,
    b'{"phone": "' + HUGE.encode() + b'"}',
]

FIELD_VALUES: list[Any] = [
    None,
    123,
    9991234567,
    1.5,
    True,
    [],
    ["9991234567"],
    {},
    {"phone": "9991234567"},
    "",
    HUGE,
    "\u0669\u0669\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
    "\uff19\uff19\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
    "\x00" * 10,
]


def check_error(response: Any, statuses: set[int], case: object) -> dict[str, Any]:
    if len(response.request.content) > MAX_BODY_BYTES:
        # Over the limit, the body is refused unread, whatever it holds.
        statuses = {413}
    assert response.status_code in statuses, (case, response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), case
    assert HUGE not in response.text, case
    return dict(body)


@pytest.mark.parametrize("path", [NUMBER_INPUT, OTP_INPUT, REFRESH, LOGOUT])
def test_a_body_over_the_limit_is_413_unread(client: TestClient, path: str) -> None:
    body = json.dumps({"phone": "9" * MAX_BODY_BYTES}).encode()
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize("path", [NUMBER_INPUT, OTP_INPUT, REFRESH, LOGOUT])
def test_malformed_bodies(client: TestClient, path: str) -> None:
    for raw in RAW_BODIES:
        response = client.post(path, content=raw, headers=JSON)
        if path == LOGOUT and response.status_code == 204:
            # Logout needs no body: null is none, and unknown fields are ignored.
            assert raw == b"null" or raw.startswith(b'{"'), raw[:40]
        else:
            # FastAPI answers 400 to bytes that are not UTF-8 at all, 422 to anything else.
            check_error(response, {400, 401, 422}, raw[:40])


def test_phone_values(client: TestClient) -> None:
    for value in FIELD_VALUES:
        for field in ("phone", "number"):
            response = client.post(NUMBER_INPUT, json={field: value})
            body = check_error(response, {422}, (field, value))
            assert body["code"] == "invalid_phone" and body["errors"], (field, value)


def test_otp_values(client: TestClient) -> None:
    for value in FIELD_VALUES:
        for field in ("otp", "number"):
            response = client.post(OTP_INPUT, json={field: value})
            assert check_error(response, {422}, value)["code"] == "invalid_otp_format", value


def test_login_locator_values(client: TestClient) -> None:
    for value in FIELD_VALUES:
        for field in ("login_id", "phone"):
            response = client.post(OTP_INPUT, json={"otp": "1234", field: value})
            check_error(response, {410, 422}, (field, value))


def test_refresh_token_values(client: TestClient) -> None:
    for value in FIELD_VALUES:
        check_error(client.post(REFRESH, json={"refresh_token": value}), {401, 422}, value)
        response = client.post(LOGOUT, json={"refresh_token": value})
        assert response.status_code in (204, 422), value


def test_missing_fields(client: TestClient) -> None:
    for body in ({}, {"phon": "9991234567"}, {"otp": "1234"}):
        response = client.post(NUMBER_INPUT, json=body)
        assert check_error(response, {422}, body)["code"] == "invalid_phone"
    response = client.post(OTP_INPUT, json={"phone": "9991234567"})
    assert check_error(response, {422}, "otp")["code"] == "invalid_otp_format"
    for path in (NUMBER_INPUT, OTP_INPUT):
        check_error(client.post(path), {422}, path)


@pytest.mark.parametrize("path", [NUMBER_INPUT, OTP_INPUT, REFRESH, LOGOUT])
def test_bodies_that_are_not_json_are_415(client: TestClient, path: str) -> None:
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        None,
    ):
        headers = {"content-type": content_type} if content_type else {}
        response = client.post(path, content=b'{"phone": "9991234567"}', headers=headers)
        body = check_error(response, {415}, content_type)
        assert body["code"] == "unsupported_media_type"


def test_wrong_methods_and_paths(client: TestClient) -> None:
    for method, path in (
        ("GET", NUMBER_INPUT),
        ("PUT", OTP_INPUT),
        ("DELETE", LOGOUT),
        ("POST", "/nope/"),
        ("GET", "/internal/users/"),
    ):
        check_error(client.request(method, path), {404, 405}, (method, path))


def test_huge_headers_and_odd_cookies_are_harmless(client: TestClient) -> None:
    client.cookies.set("login_id", "x" * 3000, path="/authentication/")
    client.cookies.set("refresh_token", "%E2%98%83\\", path="/authentication/")
    response = client.post(
        OTP_INPUT, json={"otp": "1234"}, headers={"x-forwarded-for": "1.1.1.1," * 500}
    )
    assert check_error(response, {410}, "cookie")["code"] == "otp_expired"
    check_error(client.post(REFRESH), {401}, "refresh cookie")
