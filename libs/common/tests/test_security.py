import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.errors import NotAuthenticated, install_error_handlers
from common.redis import redis_from_url
from common.security import (
    CurrentPrincipal,
    JwksKeySource,
    RevocationList,
    StaticKeySource,
    TokenVerifier,
)

ISSUER, AUDIENCE, KID = "test-issuer", "test-audience", "k1"


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks(private_key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "EdDSA"}]}


@pytest.fixture
def revocations() -> RevocationList:
    return RevocationList(redis_from_url(f"memory://{uuid.uuid4().hex}"))


@pytest.fixture
def verifier(jwks: dict[str, Any], revocations: RevocationList) -> TokenVerifier:
    return TokenVerifier(
        keys=StaticKeySource(jwks), issuer=ISSUER, audience=AUDIENCE, revocations=revocations
    )


def mint(
    key: Any, *, headers: dict[str, Any] | None = None, algorithm: str = "EdDSA", **overrides: Any
) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "7",
        "phone": "9991234567",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or {"kid": KID})


def test_valid_token_gives_the_principal(verifier: TokenVerifier, private_key: Any) -> None:
    principal = verifier.verify(mint(private_key))
    assert (principal.user_id, principal.phone) == (7, "9991234567")


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-audience"},
        {"exp": int(time.time()) - 60},
        {"typ": "refresh"},
        {"sub": "not-a-number"},
        {"jti": None},
        {"phone": None},
    ],
)
def test_tokens_with_wrong_claims_are_refused(
    verifier: TokenVerifier, private_key: Any, overrides: dict[str, Any]
) -> None:
    with pytest.raises(NotAuthenticated):
        verifier.verify(mint(private_key, **overrides))


def test_a_foreign_key_or_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(NotAuthenticated):
        verifier.verify(mint(stranger))
    with pytest.raises(NotAuthenticated):
        verifier.verify(mint(stranger, headers={"kid": "unknown"}))


def test_the_algorithm_is_pinned(verifier: TokenVerifier) -> None:
    with pytest.raises(NotAuthenticated):
        verifier.verify(mint("a-shared-secret-of-enough-length-for-hs256!", algorithm="HS256"))


def test_a_revoked_jti_is_refused(
    verifier: TokenVerifier, revocations: RevocationList, private_key: Any
) -> None:
    token = mint(private_key, jti="gone")
    verifier.verify(token)
    revocations.revoke("gone", expires_at=int(time.time()) + 60)
    with pytest.raises(NotAuthenticated):
        verifier.verify(token)


def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    for token in ("", "abc", "a.b.c", "x" * 10_000):
        with pytest.raises(NotAuthenticated):
            verifier.verify(token)


def test_jwks_source_refetches_once_for_an_unknown_kid(jwks: dict[str, Any]) -> None:
    import httpx

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=jwks)

    source = JwksKeySource(
        "http://auth/jwks.json",
        min_refresh_seconds=3600,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert source.get(KID).key_id == KID
    with pytest.raises(KeyError):
        source.get("rotated-in-later")
    with pytest.raises(KeyError):
        source.get("rotated-in-later")
    assert len(calls) == 1  # the second miss did not hammer the auth service


def test_dependency_reads_bearer_and_cookie(verifier: TokenVerifier, private_key: Any) -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, int]:
        return {"id": principal.user_id}

    client = TestClient(app)
    token = mint(private_key)
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == {"id": 7}
    with TestClient(app, cookies={"access_token": token}) as cookie_client:
        assert cookie_client.get("/me").json() == {"id": 7}
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = client.get("/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_jwks_source_fetches_once_for_many_threads_at_once(jwks: dict[str, Any]) -> None:
    import threading

    import httpx

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        time.sleep(0.05)  # long enough for every thread to queue behind the first fetch
        return httpx.Response(200, json=jwks)

    source = JwksKeySource(
        "http://auth/jwks.json", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    threads = [threading.Thread(target=source.get, args=(KID,)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1


def test_jwks_outage_keeps_refusing_without_hammering() -> None:
    import httpx

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503)

    source = JwksKeySource(
        "http://auth/jwks.json", client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    for _ in range(3):
        with pytest.raises(KeyError):
            source.get(KID)
    assert len(calls) == 1
