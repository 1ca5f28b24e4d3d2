"""Access-token verification: signature, claims, keys, and the cache of verified tokens."""

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.errors import NotAuthenticated
from common.tokens import JwksKeySource, StaticKeySource, TokenVerifier

ISSUER, AUDIENCE, KID = "test-issuer", "test-audience", "k1"


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def jwk_set(key: Ed25519PrivateKey, kid: str = KID) -> dict[str, Any]:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}]}


@pytest.fixture
def verifier(private_key: Ed25519PrivateKey) -> TokenVerifier:
    return TokenVerifier(
        keys=StaticKeySource(jwk_set(private_key)), issuer=ISSUER, audience=AUDIENCE
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
        "sid": "session-1",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or {"kid": KID})


def verify(verifier: TokenVerifier, token: str) -> Any:
    return asyncio.run(verifier.verify(token))


def test_a_valid_token_gives_the_principal(verifier: TokenVerifier, private_key: Any) -> None:
    principal = verify(verifier, mint(private_key, roles=["admin"]))
    assert (principal.user_id, principal.phone, principal.session_id) == (
        7,
        "9991234567",
        "session-1",
    )
    assert principal.roles == frozenset({"admin"})


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-audience"},
        {"exp": int(time.time()) - 60},
        {"typ": "refresh"},
        {"sub": "not-a-number"},
        {"sub": "0"},
        {"sub": "007"},
        {"sub": "1" * 40},
        {"sub": str(2**63)},
        {"sub": "\u0661"},  # Arabic-Indic one: a digit to str.isdigit, not to the contract
        {"sub": 7},
        {"jti": None},
        {"sid": None},
        {"sid": "bad sid"},
        {"phone": None},
        {"phone": "999123456"},
        {"phone": "99912345678"},
        {"phone": '999123456"'},
        {"roles": "admin"},
        {"roles": [1]},
    ],
)
def test_tokens_with_wrong_claims_are_refused(
    verifier: TokenVerifier, private_key: Any, overrides: dict[str, Any]
) -> None:
    with pytest.raises(NotAuthenticated):
        verify(verifier, mint(private_key, **overrides))


def test_the_largest_user_id_is_accepted(verifier: TokenVerifier, private_key: Any) -> None:
    assert verify(verifier, mint(private_key, sub=str(2**63 - 1))).user_id == 2**63 - 1


def test_a_foreign_key_or_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(NotAuthenticated):
        verify(verifier, mint(stranger))
    with pytest.raises(NotAuthenticated):
        verify(verifier, mint(stranger, headers={"kid": "unknown"}))


def test_the_algorithm_is_pinned(verifier: TokenVerifier) -> None:
    with pytest.raises(NotAuthenticated):
        verify(verifier, mint("a-shared-secret-of-enough-length-for-hs256!", algorithm="HS256"))


def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    for token in ("", "abc", "a.b.c", "x" * 10_000):
        with pytest.raises(NotAuthenticated):
            verify(verifier, token)


def test_a_verified_token_is_remembered_until_it_expires(private_key: Any) -> None:
    keys = StaticKeySource(jwk_set(private_key))
    verifier = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0)
    token = mint(private_key, exp=int(time.time()) + 2)

    async def scenario() -> None:
        first = await verifier.verify(token)
        # The key is gone from the source: only the remembered verdict can answer now.
        keys._keys.clear()
        assert await verifier.verify(token) is first
        await asyncio.sleep(3.1)
        with pytest.raises(NotAuthenticated) as expired:
            await verifier.verify(token)
        assert expired.value.extra == {"expired": True}

    asyncio.run(scenario())


def test_a_refused_token_is_not_remembered(verifier: TokenVerifier, private_key: Any) -> None:
    token = mint(private_key, typ="refresh")
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            verify(verifier, token)


def test_the_cache_is_bounded(private_key: Any) -> None:
    verifier = TokenVerifier(
        keys=StaticKeySource(jwk_set(private_key)), issuer=ISSUER, audience=AUDIENCE, cache_size=3
    )

    async def scenario() -> None:
        for _ in range(10):
            await verifier.verify(mint(private_key))

    asyncio.run(scenario())
    assert len(verifier._verified) == 3


def _jwks_source(handler: Any, **options: Any) -> JwksKeySource:
    return JwksKeySource(
        "http://auth/jwks.json",
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,
    )


def test_jwks_source_refetches_once_for_an_unknown_kid(private_key: Any) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=jwk_set(private_key))

    source = _jwks_source(handler, min_refresh_seconds=3600)

    async def scenario() -> None:
        await source.ensure(KID)
        assert source.get(KID).key_id == KID
        for _ in range(2):
            await source.ensure("rotated-in-later")
            with pytest.raises(KeyError):
                source.get("rotated-in-later")

    asyncio.run(scenario())
    assert len(calls) == 1  # the misses did not hammer the auth service


def test_jwks_source_fetches_once_for_many_requests_at_once(private_key: Any) -> None:
    calls = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        await asyncio.sleep(0.05)  # long enough for every request to queue behind the first
        return httpx.Response(200, json=jwk_set(private_key))

    source = _jwks_source(handler)

    async def scenario() -> None:
        await asyncio.gather(*(source.ensure(KID) for _ in range(10)))

    asyncio.run(scenario())
    assert len(calls) == 1


def test_jwks_outage_keeps_refusing_without_hammering(private_key: Any) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503)

    source = _jwks_source(handler)
    verifier = TokenVerifier(keys=source, issuer=ISSUER, audience=AUDIENCE)
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            verify(verifier, mint(private_key))
    assert len(calls) == 1


def test_a_withdrawn_key_ends_its_remembered_tokens(private_key: Any) -> None:
    served = [jwk_set(private_key)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=served[0])

    source = _jwks_source(handler, cache_seconds=0)
    verifier = TokenVerifier(keys=source, issuer=ISSUER, audience=AUDIENCE)
    token = mint(private_key)

    async def scenario() -> None:
        await verifier.verify(token)
        # The key is withdrawn (say, it leaked): a token signed with it must not live on.
        served[0] = jwk_set(Ed25519PrivateKey.generate(), kid="k2")
        with pytest.raises(NotAuthenticated):
            await verifier.verify(token)

    asyncio.run(scenario())
