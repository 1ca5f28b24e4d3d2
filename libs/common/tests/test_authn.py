"""The caller of a request: a verified token whose session has not been revoked."""

import time
import uuid
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from common.authn import Authenticator, principal_dependency
from common.errors import install_error_handlers
from common.redis import async_redis_from_url, redis_from_url
from common.revocation import revoked_session_key
from common.tokens import Principal, StaticKeySource, TokenVerifier


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store() -> str:
    return f"memory://{uuid.uuid4().hex}"


@pytest.fixture
def app(private_key: Ed25519PrivateKey, store: str) -> FastAPI:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    verifier = TokenVerifier(
        keys=StaticKeySource({"keys": [{**jwk, "kid": "k1"}]}), issuer="i", audience="a"
    )
    authenticator = Authenticator(verifier=verifier, redis=async_redis_from_url(store))
    app = FastAPI()
    install_error_handlers(app)
    current = principal_dependency(lambda _: authenticator)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current)]) -> dict[str, Any]:
        return {"id": principal.user_id, "session": principal.session_id}

    return app


def mint(key: Ed25519PrivateKey, session: str = "s1") -> str:
    now = int(time.time())
    claims = {
        "iss": "i", "aud": "a", "sub": "7", "phone": "9991234567", "iat": now,
        "exp": now + 600, "jti": uuid.uuid4().hex, "typ": "access", "sid": session,
    }  # fmt: skip
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})


def test_the_bearer_header_or_the_cookie_names_the_caller(app: FastAPI, private_key: Any) -> None:
    client = TestClient(app)
    token = mint(private_key)
    expected = {"id": 7, "session": "s1"}
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == expected
    with TestClient(app, cookies={"access_token": token}) as cookie_client:
        assert cookie_client.get("/me").json() == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer a b"},
    ],
)
def test_no_usable_token_is_401(app: FastAPI, headers: dict[str, str]) -> None:
    response = TestClient(app).get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_token_of_a_revoked_session_is_refused(
    app: FastAPI, private_key: Any, store: str
) -> None:
    client = TestClient(app)
    first, second, other = mint(private_key), mint(private_key), mint(private_key, "s2")
    for token in (first, second, other):
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    redis_from_url(store).set(revoked_session_key("s1"), "1", ex=60)

    for token in (first, second):
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    assert client.get("/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
