"""Every endpoint refuses a token the auth service did not issue, or no longer stands behind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from common.redis import redis_from_url
from common.revocation import revoked_session_key
from common.tokens import StaticKeySource
from referral_service.main import create_app

ACTIVATE = "/referral_system/api_invite_code_activation/"
INVITED = "/referral_system/api_invited_users/"
PROFILE = "/internal/referral/profile"
STATS = "/referral_system/api_referral_stats/"

Mint = Callable[..., str]

ENDPOINTS = [
    ("POST", ACTIVATE, {"invite_code": "abc123"}),
    ("GET", INVITED, None),
    ("GET", PROFILE, None),
    ("GET", STATS, None),
]


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


def bad_tokens(mint: Mint, signing_key: Ed25519PrivateKey) -> dict[str, str]:
    """One token per way of being wrong; each would be accepted if that one thing were right."""
    now = int(time.time())
    other_key = Ed25519PrivateKey.generate()
    return {
        "expired": mint(1, iat=now - 700, exp=now - 60),
        "refresh token type": mint(1, typ="refresh"),
        "no type": mint(1, drop=("typ",)),
        "wrong audience": mint(1, aud="someone-else"),
        "wrong issuer": mint(1, iss="https://evil.example"),
        "unknown kid": mint(1, kid="no-such-key"),
        "no kid": jwt.encode(_claims(mint), signing_key, algorithm="EdDSA"),
        "signed by another key": mint(1, key=other_key),
        "HS256 with the kid": mint(
            1, key="a-shared-secret-long-enough-for-hs256!", algorithm="HS256"
        ),
        "ES256 with the kid": mint(1, key=generate_private_key(SECP256R1()), algorithm="ES256"),
        "alg none": _unsigned(mint),
        "no jti": mint(1, drop=("jti",)),
        "no exp": mint(1, drop=("exp",)),
        "no phone": mint(1, drop=("phone",)),
        "no session": mint(1, drop=("sid",)),
        "non-numeric sub": mint(1, sub="admin"),
        "sub beyond int64": mint(1, sub="1" * 40),
        "sub with a non-ASCII digit": mint(1, sub="\u0661"),
        "sub with a leading zero": mint(1, sub="01"),
        "garbage": "not.a.jwt",
        "tampered payload": _tampered(mint),
    }


def _claims(mint: Mint) -> dict[str, Any]:
    """The claims of a good token, to be signed some wrong way."""
    claims: dict[str, Any] = jwt.decode(mint(1), options={"verify_signature": False})
    return claims


def _unsigned(mint: Mint) -> str:
    return jwt.encode(_claims(mint), None, algorithm="none", headers={"kid": "test-key-1"})


def _tampered(mint: Mint) -> str:
    header, _, signature = mint(1).split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"2"}').decode()
    return f"{header}.{forged}.{signature}"


def test_no_credentials_is_401_everywhere(client: TestClient) -> None:
    for method, path, body in ENDPOINTS:
        response = call(client, method, path, body, {})
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_kind_of_bad_token_is_401_everywhere(
    client: TestClient, mint: Mint, signing_key: Ed25519PrivateKey
) -> None:
    for name, token in bad_tokens(mint, signing_key).items():
        for method, path, body in ENDPOINTS:
            response = call(client, method, path, body, {"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (name, path)
            assert response.json()["code"] == "not_authenticated", (name, path)


def test_a_good_token_is_accepted(client: TestClient, mint: Mint) -> None:
    assert client.get(PROFILE, headers={"Authorization": f"Bearer {mint(1)}"}).status_code == 200


def test_only_the_bearer_scheme_is_read(client: TestClient, mint: Mint) -> None:
    for scheme in ("Basic", "Token", ""):
        response = client.get(PROFILE, headers={"Authorization": f"{scheme} {mint(1)}".strip()})
        assert response.status_code == 401, scheme


def test_every_token_of_a_revoked_session_is_401_everywhere(
    client: TestClient, mint: Mint, redis_url: str
) -> None:
    tokens = [mint(1), mint(1)]  # two tokens of one session, as after a refresh
    for token in tokens:
        for method, path, body in ENDPOINTS:
            response = call(client, method, path, body, {"Authorization": f"Bearer {token}"})
            assert response.status_code != 401, path

    session = jwt.decode(tokens[0], options={"verify_signature": False})["sid"]
    redis_from_url(redis_url).set(revoked_session_key(session), "1", ex=60)

    for token in tokens:
        for method, path, body in ENDPOINTS:
            response = call(client, method, path, body, {"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, path
            assert response.json()["code"] == "not_authenticated"


def test_the_access_cookie_authenticates_reads(client: TestClient, mint: Mint) -> None:
    response = client.get(INVITED, headers={"Cookie": f"access_token={mint(1)}"})

    assert response.status_code == 200


def test_the_phone_comes_from_the_token(
    client: TestClient, mint: Mint, bearer: Callable[[int], dict[str, str]]
) -> None:
    inviter = client.get(PROFILE, headers=bearer(1)).json()["invite_code"]
    token = mint(2, phone="9991234567")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(ACTIVATE, json={"invite_code": inviter}, headers=headers).status_code == 200

    items = client.get(INVITED, headers=bearer(1)).json()["items"]
    assert [(item["id"], item["phone"]) for item in items] == [(2, "9991234567")]


@pytest.fixture
def cookie_case(
    client: TestClient, mint: Mint, bearer: Callable[[int], dict[str, str]]
) -> tuple[str, dict[str, str]]:
    """User 1's invite code, and the cookie header of user 2 who will try to activate it."""
    code: str = client.get(PROFILE, headers=bearer(1)).json()["invite_code"]
    return code, {"Cookie": f"access_token={mint(2)}"}


def test_same_origin_cookie_post_works(
    client: TestClient, cookie_case: tuple[str, dict[str, str]]
) -> None:
    code, cookie = cookie_case
    headers = {**cookie, "Origin": "http://testserver"}

    assert client.post(ACTIVATE, json={"invite_code": code}, headers=headers).status_code == 200


def test_cross_site_cookie_post_is_403(
    client: TestClient, cookie_case: tuple[str, dict[str, str]]
) -> None:
    code, cookie = cookie_case
    for origin in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/p"}):
        response = client.post(ACTIVATE, json={"invite_code": code}, headers={**cookie, **origin})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_rejected"
    assert client.get(PROFILE, headers=cookie).json()["activated_invite_code"] is None


def test_a_form_like_cookie_post_is_415(
    client: TestClient, cookie_case: tuple[str, dict[str, str]]
) -> None:
    code, cookie = cookie_case
    body = f'{{"invite_code": "{code}"}}'
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        headers = {**cookie, "Origin": "http://testserver", "content-type": content_type}
        response = client.post(ACTIVATE, content=body, headers=headers)
        assert response.status_code == 415, content_type
        assert response.json()["code"] == "unsupported_media_type"
    assert client.get(PROFILE, headers=cookie).json()["activated_invite_code"] is None


def test_bearer_posts_are_not_subject_to_the_origin_check(
    client: TestClient, cookie_case: tuple[str, dict[str, str]], mint: Mint
) -> None:
    code, _ = cookie_case
    headers = {"Authorization": f"Bearer {mint(3)}", "Origin": "https://other.example"}

    assert client.post(ACTIVATE, json={"invite_code": code}, headers=headers).status_code == 200


def test_allowed_origins_extend_the_same_origin_rule(
    make_settings: Callable[..., Any],
    jwks: dict[str, Any],
    mint: Mint,
    bearer: Callable[[int], dict[str, str]],
) -> None:
    settings = make_settings(allowed_origins=["https://app.example"])
    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as client:
        code = client.get(PROFILE, headers=bearer(1)).json()["invite_code"]
        cookie = {"Cookie": f"access_token={mint(2)}"}
        refused = client.post(
            ACTIVATE, json={"invite_code": code}, headers={**cookie, "Origin": "https://x.example"}
        )
        allowed = client.post(
            ACTIVATE,
            json={"invite_code": code},
            headers={**cookie, "Origin": "https://app.example"},
        )

    assert refused.status_code == 403
    assert allowed.status_code == 200
