import asyncio
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from auth_service.deps import state_of
from common.tokens import StaticKeySource, TokenVerifier

OTP_INPUT = "/authentication/api_otp_input/"
REFRESH = "/authentication/api_token_refresh/"
LOGOUT = "/authentication/api_logout/"
JWKS = "/authentication/.well-known/jwks.json"
PHONE = "9991234567"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_jwks_publishes_the_signing_key_and_may_be_cached(client: TestClient) -> None:
    response = client.get(JWKS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"OKP", "Ed25519", "EdDSA", "sig"}
    assert state_of(client.app).public_jwks == response.json()


def test_access_token_is_verifiable_with_the_published_keys(client: TestClient, flow: Any) -> None:
    body = flow.sign_in()
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == client.get(JWKS).json()["keys"][0]["kid"]
    verifier = TokenVerifier(
        keys=StaticKeySource(client.get(JWKS).json()),
        issuer="referral-platform-auth",
        audience="referral-platform",
    )
    principal = asyncio.run(verifier.verify(token))
    assert principal.user_id == body["user"]["id"] and principal.phone == PHONE
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "phone", "iat", "exp", "jti", "typ", "sid"}
    assert claims["sub"] == str(body["user"]["id"]) and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 600


def test_refresh_by_body_rotates_the_token(client: TestClient, flow: Any) -> None:
    first = flow.sign_in()
    client.cookies.clear()
    response = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["user"] == first["user"] and body["expires_in"] == 600
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    names = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")}
    assert names == {"access_token", "refresh_token"}
    assert response.headers["cache-control"] == "no-store"


def test_refresh_by_cookie(client: TestClient, flow: Any) -> None:
    first = flow.sign_in()
    response = client.post(REFRESH)
    assert response.status_code == 200
    assert client.cookies["refresh_token"] == response.json()["refresh_token"]
    assert response.json()["refresh_token"] != first["refresh_token"]
    assert client.post(REFRESH).status_code == 200


def test_reusing_an_older_generation_revokes_the_whole_session(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    first = flow.sign_in()
    client.cookies.clear()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    third = client.post(REFRESH, json={"refresh_token": second["refresh_token"]}).json()
    # The grandparent: two generations back, a copy someone else holds.
    reuse = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["code"] == "invalid_refresh_token"
    newest = client.post(REFRESH, json={"refresh_token": third["refresh_token"]})
    assert newest.status_code == 401
    for body in (first, second, third):
        assert not accepted(body["access_token"])


def test_the_previous_token_within_the_grace_gets_the_same_pair_of_the_session(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    first = flow.sign_in()
    client.cookies.clear()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    again = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 200
    assert again.json()["refresh_token"] == second["refresh_token"]
    assert accepted(again.json()["access_token"]) and accepted(second["access_token"])
    assert client.post(REFRESH, json={"refresh_token": second["refresh_token"]}).status_code == 200


def test_the_previous_token_after_the_grace_revokes_the_session(
    make_client: Callable[..., TestClient], flow_for: Any, accepted: Callable[[str], bool]
) -> None:
    client = make_client(refresh_reuse_grace_seconds=0)
    first = flow_for(client).sign_in()
    client.cookies.clear()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    time.sleep(0.01)
    reuse = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert not accepted(second["access_token"]) and not accepted(first["access_token"])


@pytest.mark.parametrize("body", [None, {}, {"refresh_token": ""}, {"refresh_token": "nope"}])
def test_a_missing_or_unknown_refresh_token_is_401(
    client: TestClient, body: dict[str, str] | None
) -> None:
    response = client.post(REFRESH, json=body) if body is not None else client.post(REFRESH)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


def test_logout_with_only_the_bearer_token_ends_the_login(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    body = flow.sign_in()
    client.cookies.clear()
    assert accepted(body["access_token"])
    response = client.post(LOGOUT, headers=bearer(body["access_token"]))
    assert response.status_code == 204 and response.content == b""
    assert not accepted(body["access_token"])
    refresh = client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert refresh.status_code == 401


def test_logout_with_a_later_access_token_ends_the_earlier_ones_too(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    first = flow.sign_in()
    client.cookies.clear()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    assert accepted(first["access_token"]) and accepted(second["access_token"])

    assert client.post(LOGOUT, headers=bearer(second["access_token"])).status_code == 204

    assert not accepted(first["access_token"]) and not accepted(second["access_token"])


def test_logout_with_cookies_ends_the_login_and_clears_them(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    body = flow.sign_in()
    response = client.post(LOGOUT)
    assert response.status_code == 204
    cleared = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cleared) == {"access_token", "refresh_token", "login_id"}
    assert all("Max-Age=0" in cookie for cookie in cleared.values())
    assert "Path=/;" in cleared["access_token"]
    assert "Path=/authentication/" in cleared["refresh_token"]
    assert not client.cookies
    assert not accepted(body["access_token"])
    refresh = client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert refresh.status_code == 401


def test_logout_with_a_refresh_token_in_the_body(client: TestClient, flow: Any) -> None:
    body = flow.sign_in()
    client.cookies.clear()
    assert client.post(LOGOUT, json={"refresh_token": body["refresh_token"]}).status_code == 204
    assert client.post(REFRESH, json={"refresh_token": body["refresh_token"]}).status_code == 401


def test_logout_leaves_other_logins_alone(
    make_client: Callable[..., TestClient], flow_for: Any, accepted: Callable[[str], bool]
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0)
    flow = flow_for(client)
    laptop, phone = flow.sign_in(), flow.sign_in()
    client.cookies.clear()
    client.post(LOGOUT, headers=bearer(laptop["access_token"]))
    assert accepted(phone["access_token"]) and not accepted(laptop["access_token"])
    assert client.post(REFRESH, json={"refresh_token": phone["refresh_token"]}).status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic abc"}]
)
def test_logout_without_valid_credentials_is_still_204(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert client.post(LOGOUT, headers=headers).status_code == 204


@pytest.mark.parametrize("path", [REFRESH, LOGOUT, OTP_INPUT])
def test_a_cross_site_cookie_post_is_refused(client: TestClient, flow: Any, path: str) -> None:
    flow.sign_in()
    flow.request_code("9990000001")
    response = client.post(path, json={"otp": "1234"}, headers={"origin": "https://evil.example"})
    assert response.status_code == 403 and response.json()["code"] == "csrf_rejected"
    # Nothing was revoked: the same request from the page's own origin works.
    same_site = client.post(REFRESH, headers={"origin": "http://testserver"})
    assert same_site.status_code == 200


def test_an_allowed_origin_may_post_with_cookies(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client(allowed_origins=["https://app.example"])
    flow_for(client).sign_in()
    response = client.post(REFRESH, headers={"origin": "https://app.example"})
    assert response.status_code == 200


def test_a_form_post_is_refused(client: TestClient, flow: Any) -> None:
    flow.sign_in()
    response = client.post(
        LOGOUT,
        content=b"refresh_token=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
