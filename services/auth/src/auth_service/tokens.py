"""Access tokens (EdDSA JWTs) and refresh tokens (opaque, rotated, grouped in families).

A family is one login: every refresh hands out its next token and retires the presented one.
Presenting a retired token means two parties hold the family, so the whole family is revoked.

Keys (all with a TTL):
  auth:refresh:{sha256 of token}   the family id the token belongs to
  auth:refresh_family:{family_id}  hash: user_id, phone, current (hash of the live token)
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis import Redis

from common.security import ALGORITHM

REFRESH_TOKEN_KEY = "auth:refresh:{digest}"  # noqa: S105 - a key name
FAMILY_KEY = "auth:refresh_family:{family_id}"
# The claim that names the refresh family (the login session) an access token belongs to.
SESSION_CLAIM = "sid"
MAX_REFRESH_TOKEN_LENGTH = 256

# KEYS: presented token. ARGV: presented digest, new digest, ttl seconds, family key prefix,
# token key prefix. Returns {'ok', family_id, user_id, phone} | {'invalid'} | {'reused'}.
_ROTATE = """
local family_id = redis.call('GET', KEYS[1])
if not family_id then
  return {'invalid'}
end
local family_key = ARGV[4] .. family_id
local family = redis.call('HMGET', family_key, 'current', 'user_id', 'phone')
if not family[1] then
  return {'invalid'}
end
if family[1] ~= ARGV[1] then
  redis.call('DEL', family_key)
  return {'reused'}
end
redis.call('HSET', family_key, 'current', ARGV[2])
redis.call('EXPIRE', family_key, ARGV[3])
redis.call('SET', ARGV[5] .. ARGV[2], family_id, 'EX', ARGV[3])
return {'ok', family_id, family[2], family[3]}
"""


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    token: str
    family_id: str
    user_id: int
    phone: str


class RefreshRejected(Exception):
    def __init__(self, *, reused: bool) -> None:
        self.reused = reused
        super().__init__("reused" if reused else "invalid")


def _digest(token: str) -> str:
    # The token carries 256 random bits, so a plain hash is as good as a keyed one.
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokens:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._rotate = redis.register_script(_ROTATE)

    def start_family(self, *, user_id: int, phone: str) -> IssuedRefresh:
        token, family_id = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        digest = _digest(token)
        family_key = FAMILY_KEY.format(family_id=family_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(family_key, mapping={"current": digest, "user_id": user_id, "phone": phone})
            pipe.expire(family_key, self._ttl)
            pipe.set(REFRESH_TOKEN_KEY.format(digest=digest), family_id, ex=self._ttl)
            pipe.execute()
        return IssuedRefresh(token=token, family_id=family_id, user_id=user_id, phone=phone)

    def rotate(self, token: str) -> IssuedRefresh:
        """The family's next token for its current one; RefreshRejected otherwise."""
        if not token or len(token) > MAX_REFRESH_TOKEN_LENGTH:
            raise RefreshRejected(reused=False)
        new_token = secrets.token_urlsafe(32)
        result = self._rotate(
            keys=[REFRESH_TOKEN_KEY.format(digest=_digest(token))],
            args=[
                _digest(token),
                _digest(new_token),
                self._ttl,
                FAMILY_KEY.format(family_id=""),
                REFRESH_TOKEN_KEY.format(digest=""),
            ],
        )
        if result[0] != "ok":
            raise RefreshRejected(reused=result[0] == "reused")
        _, family_id, user_id, phone = result
        return IssuedRefresh(
            token=new_token, family_id=str(family_id), user_id=int(user_id), phone=str(phone)
        )

    def family_of(self, token: str) -> str | None:
        if not token or len(token) > MAX_REFRESH_TOKEN_LENGTH:
            return None
        # Clients decode responses (common.redis), so strings come back.
        return cast("str | None", self._redis.get(REFRESH_TOKEN_KEY.format(digest=_digest(token))))

    def revoke_family(self, family_id: str) -> None:
        self._redis.delete(FAMILY_KEY.format(family_id=family_id))


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    jti: str
    expires_at: int


class AccessTokens:
    def __init__(
        self,
        *,
        signing_key: Ed25519PrivateKey,
        kid: str,
        issuer: str,
        audience: str,
        ttl_seconds: int,
    ) -> None:
        self._signing_key = signing_key
        self._kid = kid
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    def issue(self, *, user_id: int, phone: str, session_id: str) -> AccessToken:
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "phone": phone,
            "iat": now,
            "exp": now + self._ttl,
            "jti": jti,
            "typ": "access",
            SESSION_CLAIM: session_id,
        }
        token = jwt.encode(
            claims, self._signing_key, algorithm=ALGORITHM, headers={"kid": self._kid}
        )
        return AccessToken(token=token, jti=jti, expires_at=now + self._ttl)
