"""Access tokens minted with a key made for this test run, as the auth service mints them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

KID = "test-key-1"
ISSUER = "test-auth"
AUDIENCE = "test-platform"

Mint = Callable[..., str]


def phone_of(user_id: int) -> str:
    return f"9{user_id:09d}"


@pytest.fixture(scope="session")
def jwt_settings() -> dict[str, str]:
    """The settings that make a verifier accept the tokens minted here."""
    return {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def jwks(signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk = OKPAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": KID, "alg": "EdDSA", "use": "sig"}]}


@pytest.fixture(scope="session")
def mint(signing_key: Ed25519PrivateKey) -> Mint:
    """mint(user_id, ttl=..., key=..., algorithm=..., kid=..., drop=(claim, ...), **claims)."""

    def make(
        user_id: int,
        *,
        ttl: int = 600,
        key: Any = None,
        algorithm: str = "EdDSA",
        kid: str = KID,
        drop: tuple[str, ...] = (),
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "phone": phone_of(user_id),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "sid": f"session-{user_id}",
            **overrides,
        }
        for name in drop:
            del claims[name]
        signer = signing_key if key is None else key
        return jwt.encode(claims, signer, algorithm=algorithm, headers={"kid": kid})

    return make


@pytest.fixture(scope="session")
def bearer(mint: Mint) -> Callable[[int], dict[str, str]]:
    return lambda user_id: {"Authorization": f"Bearer {mint(user_id)}"}
