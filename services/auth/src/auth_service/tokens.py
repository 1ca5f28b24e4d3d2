"""Access tokens: EdDSA JWTs naming the user, their phone and their login session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.tokens import ALGORITHM, ROLES_CLAIM, SESSION_CLAIM


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
        self._headers = {"kid": kid}
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    def issue(
        self, *, user_id: int, phone: str, session_id: str, roles: Iterable[str] = ()
    ) -> AccessToken:
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
        if roles:
            claims[ROLES_CLAIM] = sorted(roles)
        token = jwt.encode(claims, self._signing_key, algorithm=ALGORITHM, headers=self._headers)
        return AccessToken(token=token, jti=jti, expires_at=now + self._ttl)
