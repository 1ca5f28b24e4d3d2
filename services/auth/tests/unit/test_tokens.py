import time

import fakeredis
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.keys import public_jwk
from auth_service.tokens import (
    AccessTokens,
    RefreshRejected,
    RefreshTokens,
)
from common.errors import NotAuthenticated
from common.security import RevocationList, StaticKeySource, TokenVerifier


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def refresh(redis: fakeredis.FakeRedis) -> RefreshTokens:
    return RefreshTokens(redis, ttl_seconds=1000)


def test_rotation_hands_out_the_next_token_of_the_family(refresh: RefreshTokens) -> None:
    first = refresh.start_family(user_id=7, phone="9991234567")
    second = refresh.rotate(first.token)
    assert second.token != first.token
    assert (second.family_id, second.user_id, second.phone) == (first.family_id, 7, "9991234567")
    third = refresh.rotate(second.token)
    assert third.family_id == first.family_id


def test_reusing_a_retired_token_revokes_the_family(refresh: RefreshTokens) -> None:
    first = refresh.start_family(user_id=7, phone="9991234567")
    second = refresh.rotate(first.token)
    with pytest.raises(RefreshRejected) as reused:
        refresh.rotate(first.token)
    assert reused.value.reused
    with pytest.raises(RefreshRejected) as after:
        refresh.rotate(second.token)
    assert not after.value.reused


def test_other_families_survive_a_revocation(refresh: RefreshTokens) -> None:
    mine = refresh.start_family(user_id=7, phone="9991234567")
    other = refresh.start_family(user_id=7, phone="9991234567")
    refresh.revoke_family(mine.family_id)
    with pytest.raises(RefreshRejected):
        refresh.rotate(mine.token)
    assert refresh.rotate(other.token).family_id == other.family_id


@pytest.mark.parametrize("token", ["", "unknown", "x" * 10_000])
def test_unknown_tokens_are_rejected(refresh: RefreshTokens, token: str) -> None:
    with pytest.raises(RefreshRejected):
        refresh.rotate(token)
    assert refresh.family_of(token) is None


def test_only_hashes_are_stored_and_everything_expires(
    refresh: RefreshTokens, redis: fakeredis.FakeRedis
) -> None:
    issued = refresh.start_family(user_id=7, phone="9991234567")
    rotated = refresh.rotate(issued.token)
    dump = " ".join(
        f"{key} {redis.get(key) if redis.type(key) == 'string' else redis.hgetall(key)}"
        for key in redis.keys("*")
    )
    assert issued.token not in dump and rotated.token not in dump
    assert all(0 < redis.ttl(key) <= 1000 for key in redis.keys("*"))
    assert all(key.startswith("auth:") for key in redis.keys("*"))


def test_access_token_claims_and_header(redis: fakeredis.FakeRedis) -> None:
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key.public_key())
    tokens = AccessTokens(
        signing_key=key, kid=jwk["kid"], issuer="iss", audience="aud", ttl_seconds=600
    )
    issued = tokens.issue(user_id=42, phone="9991234567", session_id="family")
    header = jwt.get_unverified_header(issued.token)
    assert (header["alg"], header["kid"]) == ("EdDSA", jwk["kid"])
    claims = jwt.decode(issued.token, jwt.PyJWK(jwk), algorithms=["EdDSA"], audience="aud")
    assert claims["iss"] == "iss" and claims["sub"] == "42" and claims["phone"] == "9991234567"
    assert claims["typ"] == "access" and claims["jti"] == issued.jti and claims["sid"] == "family"
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 5

    verifier = TokenVerifier(
        keys=StaticKeySource({"keys": [jwk]}),
        issuer="iss",
        audience="aud",
        revocations=RevocationList(redis),
    )
    principal = verifier.verify(issued.token)
    assert principal.session_id == "family"
    assert (principal.user_id, principal.phone, principal.jti) == (42, "9991234567", issued.jti)
    RevocationList(redis).revoke(issued.jti, expires_at=issued.expires_at)
    with pytest.raises(NotAuthenticated):
        verifier.verify(issued.token)
