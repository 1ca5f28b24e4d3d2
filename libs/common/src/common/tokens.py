"""Access-token verification, shared by every service that accepts a user's token.

Tokens are EdDSA JWTs minted by the auth service. Verifiers pin the algorithm, check
iss/aud/exp/typ and the shape of every claim they use, and look the key up by `kid` in a JWK
Set. Whether the token's session was revoked is a separate question (common.revocation),
asked in the same Redis round trip as whatever else the request reads.

A verified token is remembered, by its exact bytes, until it expires: a browser sends the same
access token with every request for ten minutes, and the signature check is the largest part
of a cached profile's cost. Nothing unverified is ever remembered, and a change of the key set
forgets everything.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from fastapi import Request

from common.errors import NotAuthenticated

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
ACCESS_COOKIE = "access_token"
# The claim that names the login session (the refresh-token family) a token belongs to.
SESSION_CLAIM = "sid"
ROLES_CLAIM = "roles"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "typ", SESSION_CLAIM]

# `sub` is the user id: a canonical positive integer within PostgreSQL's bigint.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_USER_ID = 2**63 - 1
_PHONE = re.compile(r"[0-9]{10}")
# Session and token ids go into Redis key names: URL-safe base64 or hex, bounded.
_OPAQUE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# RFC 6750 b64token; access tokens are a few hundred bytes.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    user_id: int
    phone: str
    session_id: str
    jti: str
    expires_at: int
    token: str
    roles: frozenset[str] = frozenset()


class KeySource(Protocol):
    def get(self, kid: str) -> jwt.PyJWK:
        """The public key with this id; KeyError when there is none."""
        ...

    async def ensure(self, kid: str) -> None:
        """Fetch the keys if `kid` is unknown or the cached set is old; at most now and then."""
        ...

    @property
    def version(self) -> int:
        """Changes whenever the set of keys does."""
        ...


class StaticKeySource:
    """Keys known up front, e.g. handed over in-process by the auth service."""

    version = 0

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}

    def get(self, kid: str) -> jwt.PyJWK:
        return self._keys[kid]

    async def ensure(self, kid: str) -> None:
        return None


class JwksKeySource:
    """The auth service's JWK Set over HTTP, cached; an unknown `kid` triggers an early fetch.

    Fetches are serialised: a burst of requests with a new `kid` makes one fetch, and failed or
    useless fetches are not repeated faster than `min_refresh_seconds`.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 2.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds, trust_env=False)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.version = 0

    def get(self, kid: str) -> jwt.PyJWK:
        return self._keys[kid]

    def _due(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        if kid not in self._keys:
            return age > self._min_refresh_seconds
        return age > self._cache_seconds

    async def ensure(self, kid: str) -> None:
        if not self._due(kid):
            return
        async with self._lock:
            # Requests that queued here behind a fetch find the keys fresh and move on.
            if self._due(kid):
                await self._fetch()

    async def _fetch(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            # Keep the keys we have (a token with an unknown kid is refused); the failed attempt
            # counts as a fetch, so an unknown kid retries no faster than min_refresh_seconds.
            logger.warning("jwks refresh failed", extra={"url": self._url, "error": str(exc)})
            self._fetched_at = time.monotonic()
            return
        keys = {key.key_id: key for key in keyset.keys if key.key_id}
        if keys.keys() != self._keys.keys():
            self.version += 1
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        await self._client.aclose()


@asynccontextmanager
async def auth_keys(given: KeySource | None, *, jwks_url: str) -> AsyncIterator[KeySource]:
    """`given` (keys handed over in-process), else the JWK Set at `jwks_url`, closed after."""
    if given is not None:
        yield given
        return
    jwks = JwksKeySource(jwks_url)
    try:
        yield jwks
    finally:
        await jwks.aclose()


class TokenVerifier:
    """Checks an access token's signature and claims; remembers the tokens it has verified."""

    def __init__(
        self,
        *,
        keys: KeySource,
        issuer: str,
        audience: str,
        leeway_seconds: int = 5,
        # About 0.9 KiB a token: 4,096 keep a worker's cache under 4 MiB (16,384 cost 14.5 MiB,
        # enough to lift referral's workers over the 150 MB budget under the benchmark's load),
        # and a token used again within the next 4,096 others is still a hit.
        cache_size: int = 4_096,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        # Verified tokens: the principal and the id of the key that signed it.
        self._verified: dict[str, tuple[Principal, str]] = {}
        self._keys_version = keys.version

    @property
    def keys(self) -> KeySource:
        return self._keys

    async def verify(self, token: str) -> Principal:
        """The principal behind a valid access token; NotAuthenticated otherwise."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, kid = remembered
            await self._keys.ensure(kid)
            if self._keys.version == self._keys_version:
                if time.time() <= principal.expires_at + self._leeway:
                    return principal
                del self._verified[token]
                raise NotAuthenticated("The access token has expired.", expired=True)
        kid = _kid_of(token)
        await self._keys.ensure(kid)
        if self._keys.version != self._keys_version:
            # The key set changed: what was verified with a key that is gone must not stand.
            self._verified.clear()
            self._keys_version = self._keys.version
        principal = self._decode(token, kid)
        if len(self._verified) >= self._cache_size:
            # First in, first out: the oldest verified token is also the nearest to expiry.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, kid)
        return principal

    def _decode(self, token: str, kid: str) -> Principal:
        try:
            key = self._keys.get(kid)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except KeyError:
            raise NotAuthenticated("The access token was signed by an unknown key.") from None
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("The access token has expired.", expired=True) from None
        except jwt.PyJWTError:
            raise NotAuthenticated("The access token is not valid.") from None
        return principal_from_claims(claims, token)


def principal_from_claims(claims: dict[str, Any], token: str) -> Principal:
    """The principal of verified claims whose every used claim has the expected shape."""
    sub, phone, sid, jti = (claims.get(name) for name in ("sub", "phone", SESSION_CLAIM, "jti"))
    roles = claims.get(ROLES_CLAIM, [])
    if (
        claims.get("typ") != "access"
        or not (isinstance(sub, str) and _USER_ID.fullmatch(sub) and int(sub) <= _MAX_USER_ID)
        or not (isinstance(phone, str) and _PHONE.fullmatch(phone))
        or not (isinstance(sid, str) and _OPAQUE_ID.fullmatch(sid))
        or not (isinstance(jti, str) and _OPAQUE_ID.fullmatch(jti))
        or not (isinstance(roles, list) and all(isinstance(role, str) for role in roles))
    ):
        raise NotAuthenticated("The access token is not valid.")
    return Principal(
        user_id=int(sub),
        phone=phone,
        session_id=sid,
        jti=jti,
        expires_at=int(claims["exp"]),
        token=token,
        roles=frozenset(roles),
    )


def _kid_of(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise NotAuthenticated("The access token is not valid.") from None
    if not isinstance(kid, str):
        raise NotAuthenticated("The access token names no key.")
    return kid


def access_token_from(request: Request) -> str:
    """The bearer token, else the access cookie; NotAuthenticated when neither is usable."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated()
    else:
        token = request.cookies.get(ACCESS_COOKIE, "")
        if not token:
            raise NotAuthenticated()
    if len(token) > MAX_TOKEN_LENGTH or not _BEARER_TOKEN.fullmatch(token):
        raise NotAuthenticated("The access token is not valid.")
    return token
