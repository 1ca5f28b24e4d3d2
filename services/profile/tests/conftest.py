"""The profile app on a clean Redis, with referral faked at the edge (httpx.ASGITransport).

Tokens are minted here with a key the app is handed, as the auth service would mint them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from jwt.algorithms import OKPAlgorithm

from common.tokens import StaticKeySource
from profile_service.config import ProfileSettings
from profile_service.main import create_app

PROFILE_URL = "/profile/api_profile/"
REFERRAL_PATH = "/internal/referral/profile"
PHONE = "9991234567"
ISSUER, AUDIENCE, KID = "test-auth", "test-platform", "test-key"


def referral_document(user_id: int = 1, **changes: Any) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "invite_code": "5L7opy",
        "activated_invite_code": None,
        "invited_users": [{"id": 2, "phone": "9990000001", "activated_at": "2026-11-27T10:00:00Z"}],
        "invited_count": 1,
        "invited_users_next": None,
        **changes,
    }


@dataclass(frozen=True)
class Seen:
    headers: dict[str, str]


class FakeReferral:
    """Answers the profile document with what the test sets (`status`, `body` or `raw`, after
    `delay` s); `on_request` runs first, as if referral's data changed while it answered."""

    def __init__(self) -> None:
        self.status = 200
        self.body: object = referral_document()
        self.raw: bytes | None = None
        self.delay = 0.0
        self.healthy = True
        self.seen: list[Seen] = []
        self.on_request: Callable[[], Any] | None = None
        app = FastAPI()
        app.add_api_route(REFERRAL_PATH, self._answer)
        app.add_api_route("/healthz", self._health)
        self.transport = httpx.ASGITransport(app=app)

    async def _answer(self, request: Request) -> Response:
        self.seen.append(Seen(dict(request.headers)))
        # The answer is read first: a change `on_request` makes comes after it.
        status, body, raw = self.status, self.body, self.raw
        if self.on_request is not None:
            self.on_request()
        await asyncio.sleep(self.delay)
        if raw is not None:
            return Response(raw, status_code=status, media_type="text/plain")
        return JSONResponse(body, status_code=status)

    async def _health(self) -> Response:
        return JSONResponse({"status": "ok"}, status_code=200 if self.healthy else 503)


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def jwks(signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk = OKPAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": KID, "alg": "EdDSA", "use": "sig"}]}


Mint = Callable[..., str]


@pytest.fixture(scope="session")
def mint(signing_key: Ed25519PrivateKey) -> Mint:
    """mint(user_id=1, session="s1", ttl=600, **claims): an access token as auth mints it."""

    def make(user_id: int = 1, *, session: str = "s1", ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "phone": PHONE,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "sid": session,
            **claims,
        }
        return jwt.encode(payload, signing_key, algorithm="EdDSA", headers={"kid": KID})

    return make


@pytest.fixture
def bearer(mint: Mint) -> Callable[..., dict[str, str]]:
    return lambda user_id=1, **claims: {"Authorization": f"Bearer {mint(user_id, **claims)}"}


@pytest.fixture
def referral() -> FakeReferral:
    return FakeReferral()


@pytest.fixture
def make_client(
    referral: FakeReferral, redis_url: str, jwks: dict[str, Any]
) -> Iterator[Callable[..., TestClient]]:
    """A running profile app; `referral_url` replaces the fake with a real socket."""
    with ExitStack() as stack:

        def make(*, referral_url: str | None = None, **settings: Any) -> TestClient:
            values: dict[str, Any] = {
                "redis_url": redis_url,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "app_env": "test",
                "log_json": False,
                **settings,
            }
            if referral_url:
                values["referral_service_url"] = referral_url
            app = create_app(
                ProfileSettings(**values),
                key_source=StaticKeySource(jwks),
                referral_transport=None if referral_url else referral.transport,
            )
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
