"""Access tokens: the claims and header auth mints, as every verifier reads them."""

import asyncio
import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.jwt_keys import public_jwk
from auth_service.tokens import AccessTokens
from common.tokens import StaticKeySource, TokenVerifier


def test_access_token_claims_and_header() -> None:
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key.public_key())
    tokens = AccessTokens(
        signing_key=key, kid=jwk["kid"], issuer="iss", audience="aud", ttl_seconds=600
    )
    issued = tokens.issue(user_id=42, phone="9991234567", session_id="session-1")
    header = jwt.get_unverified_header(issued.token)
    assert (header["alg"], header["kid"]) == ("EdDSA", jwk["kid"])
    claims = jwt.decode(issued.token, jwt.PyJWK(jwk), algorithms=["EdDSA"], audience="aud")
    assert claims["iss"] == "iss" and claims["sub"] == "42" and claims["phone"] == "9991234567"
    assert claims["typ"] == "access" and claims["jti"] == issued.jti
    assert claims["sid"] == "session-1" and "roles" not in claims
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 5

    verifier = TokenVerifier(keys=StaticKeySource({"keys": [jwk]}), issuer="iss", audience="aud")
    principal = asyncio.run(verifier.verify(issued.token))
    assert (principal.user_id, principal.phone, principal.jti) == (42, "9991234567", issued.jti)
    assert principal.session_id == "session-1" and principal.roles == frozenset()


def test_roles_are_carried_when_there_are_some() -> None:
    key = Ed25519PrivateKey.generate()
    tokens = AccessTokens(signing_key=key, kid="k", issuer="i", audience="a", ttl_seconds=600)
    issued = tokens.issue(user_id=1, phone="9991234567", session_id="s", roles={"admin"})
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["roles"] == ["admin"]
