"""Access-token verification shared by every service that accepts a user's token.

Tokens are EdDSA JWTs minted by the auth service. Verifiers pin the algorithm, check
iss/aud/exp/typ, look the key up by `kid` in a cached JWK Set, and refuse revoked `jti`s.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt
from fastapi import Depends, Request
from redis import Redis

from common.errors import CsrfRejected, NotAuthenticated, UnsupportedMediaType

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
ACCESS_COOKIE = "access_token"
REVOKED_JTI_KEY = "auth:revoked_jti:{jti}"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    phone: str
    jti: str
    expires_at: int
    token: str
    # The login (refresh-token family) the token was minted for, when the issuer names one.
    session_id: str | None = None


class KeySource(Protocol):
    def get(self, kid: str) -> jwt.PyJWK:
        """The public key with this id; KeyError when there is none."""
        ...


class StaticKeySource:
    """Keys known up front, e.g. handed over in-process by the auth service."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}

    def get(self, kid: str) -> jwt.PyJWK:
        return self._keys[kid]


class JwksKeySource:
    """The auth service's JWK Set over HTTP, cached; an unknown `kid` triggers one early refresh."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 2.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK:
        if self._needs_refresh(kid):
            with self._lock:
                # Threads that queued here behind a refresh find the keys fresh and move on.
                if self._needs_refresh(kid):
                    self._refresh()
        return self._keys[kid]

    def _needs_refresh(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return age > self._cache_seconds or (
            kid not in self._keys and age > self._min_refresh_seconds
        )

    def _refresh(self) -> None:
        try:
            response = self._client.get(self._url)
            response.raise_for_status()
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            # Keep the keys we have (a token with an unknown kid is refused); the failed attempt
            # counts as a fetch, so an unknown kid retries no faster than min_refresh_seconds.
            logger.warning("jwks refresh failed", extra={"url": self._url, "error": str(exc)})
            self._fetched_at = time.monotonic()
            return
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._fetched_at = time.monotonic()

    def close(self) -> None:
        self._client.close()


class RevocationList:
    """Access-token ids revoked before their expiry (logout), kept in Redis until then."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def revoke(self, jti: str, *, expires_at: int) -> None:
        ttl = max(1, expires_at - int(time.time()))
        self._redis.set(REVOKED_JTI_KEY.format(jti=jti), "1", ex=ttl)

    def is_revoked(self, jti: str) -> bool:
        return bool(self._redis.exists(REVOKED_JTI_KEY.format(jti=jti)))


class TokenVerifier:
    def __init__(
        self,
        *,
        keys: KeySource,
        issuer: str,
        audience: str,
        revocations: RevocationList,
        leeway_seconds: int = 5,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        """The principal behind a valid, unrevoked access token; NotAuthenticated otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str):
                raise NotAuthenticated("The access token has no key id.")
            key = self._keys.get(kid)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "sub", "exp", "iat", "jti", "typ"]},
            )
        except KeyError:
            raise NotAuthenticated("The access token was signed by an unknown key.") from None
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("The access token has expired.", expired=True) from None
        except jwt.PyJWTError:
            raise NotAuthenticated("The access token is not valid.") from None
        if claims.get("typ") != "access":
            raise NotAuthenticated("This is not an access token.")
        sub, phone, jti = claims["sub"], claims.get("phone"), claims["jti"]
        if not (isinstance(sub, str) and sub.isdigit() and isinstance(phone, str)):
            raise NotAuthenticated("The access token is not valid.")
        if self._revocations.is_revoked(str(jti)):
            raise NotAuthenticated("The access token has been revoked.")
        sid = claims.get("sid")
        return Principal(
            user_id=int(sub),
            phone=phone,
            jti=str(jti),
            expires_at=int(claims["exp"]),
            token=token,
            session_id=sid if isinstance(sid, str) else None,
        )


def access_token_from(request: Request) -> str | None:
    """The bearer token, else the access cookie; API clients and the browser use one each."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None
    return request.cookies.get(ACCESS_COOKIE) or None


def uses_cookie_auth(request: Request) -> bool:
    return "authorization" not in request.headers and bool(request.cookies)


def check_same_origin(request: Request, allowed_origins: list[str]) -> None:
    """Refuse a cookie-authenticated state change that a page from another site could forge."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not uses_cookie_auth(request):
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # Not a browser-initiated cross-site request: browsers send Origin on POST.
    parts = urlsplit(origin)
    origin_root = f"{parts.scheme}://{parts.netloc}"
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    if parts.netloc != host and origin_root not in allowed_origins:
        raise CsrfRejected()


async def require_json(request: Request) -> None:
    """State changes take JSON only: HTML forms cannot send it cross-site without a preflight."""
    if request.method != "POST":
        return
    content_type = request.headers.get("content-type", "")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in (
        request.headers
    )
    if has_body and content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, via `app.state.token_verifier`."""
    token = access_token_from(request)
    if token is None:
        raise NotAuthenticated()
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
