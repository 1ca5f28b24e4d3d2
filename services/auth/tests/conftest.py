"""Fixtures for the auth tests: settings on a fresh database and a clean Redis, and the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from auth_service.config import AuthSettings
from auth_service.jwt_keys import private_key_to_pem
from auth_service.main import create_app
from common.errors import NotAuthenticated
from common.redis import redis_from_url
from common.revocation import revoked_session_key
from common.tokens import StaticKeySource, TokenVerifier

PHONE = "9991234567"
NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
REFRESH = "/authentication/api_token_refresh/"
LOGOUT = "/authentication/api_logout/"
DEV_SMS = "/authentication/api_dev_sms/"
JWKS = "/authentication/.well-known/jwks.json"


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return private_key_to_pem(Ed25519PrivateKey.generate()).decode()


@pytest.fixture
def make_settings(
    make_database: Callable[[str], str], redis_url: str, signing_key_pem: str
) -> Callable[..., AuthSettings]:
    """AuthSettings for a test: one fresh database per test, created on first use."""
    database: list[str] = []

    def build(**overrides: Any) -> AuthSettings:
        if not database and "auth_database_url" not in overrides:
            database.append(make_database("auth"))
        values: dict[str, Any] = {
            "app_env": "test",
            "auth_database_url": database[0] if database else None,
            "redis_url": redis_url,
            "jwt_private_key": signing_key_pem,
            "otp_hmac_secret": "test-otp-hmac-secret",
            "cookie_secure": False,
            "dev_sms_inbox": True,
            "log_json": False,
        }
        unknown = set(overrides) - set(AuthSettings.model_fields)
        assert not unknown, f"not AuthSettings fields: {unknown}"
        return AuthSettings(**{**values, **overrides})

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., AuthSettings]) -> Iterator[Callable[..., TestClient]]:
    """A started app (lifespan run) on the test's settings, with `overrides` applied."""
    with ExitStack() as stack:

        def build(*, peer: str = "testclient", **overrides: Any) -> TestClient:
            """`peer` is the address the app sees the request come from."""
            app = create_app(make_settings(**overrides))
            return stack.enter_context(TestClient(app, client=(peer, 50000)))

        yield build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


class Flow:
    """The sign-in steps as a client performs them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @staticmethod
    def wrong(code: str) -> str:
        """A code of the same length that is certainly not `code`."""
        return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))

    def request_code(self, phone: str = PHONE) -> dict[str, Any]:
        response = self.client.post(NUMBER_INPUT, json={"phone": phone})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def read_code(self, phone: str = PHONE) -> str:
        response = self.client.get(DEV_SMS, params={"phone": phone})
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    def sign_in(self, phone: str = PHONE) -> dict[str, Any]:
        self.request_code(phone)
        response = self.client.post(OTP_INPUT, json={"otp": self.read_code(phone), "phone": phone})
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def flow(client: TestClient) -> Flow:
    return Flow(client)


@pytest.fixture
def flow_for() -> Callable[[TestClient], Flow]:
    return Flow


@pytest.fixture
def accepted(client: TestClient, redis_url: str) -> Callable[[str], bool]:
    """accepted(token): would the other services take this access token now?

    What each of them checks: the signature and claims with the published keys, and that the
    token's session has not been revoked.
    """

    def check(token: str) -> bool:
        settings = AuthSettings()
        verifier = TokenVerifier(
            keys=StaticKeySource(client.get(JWKS).json()),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        try:
            principal = asyncio.run(verifier.verify(token))
        except NotAuthenticated:
            return False
        return not redis_from_url(redis_url).exists(revoked_session_key(principal.session_id))

    return check
