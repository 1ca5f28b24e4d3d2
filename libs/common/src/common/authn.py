"""Who is calling: a verified access token whose session has not been revoked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from redis.asyncio import Redis

from common.errors import NotAuthenticated
from common.revocation import REVOKED_DETAIL, revoked_session_key
from common.tokens import Principal, TokenVerifier, access_token_from


class Authenticator:
    def __init__(self, *, verifier: TokenVerifier, redis: Redis) -> None:
        self.verifier = verifier
        self._redis = redis

    async def principal(self, request: Request) -> Principal:
        """The verified token's principal, its session not yet checked."""
        return await self.verifier.verify(access_token_from(request))

    async def authenticate(self, request: Request) -> Principal:
        """The caller, with the session checked in Redis; NotAuthenticated otherwise."""
        principal = await self.principal(request)
        if await self._redis.exists(revoked_session_key(principal.session_id)):
            raise NotAuthenticated(REVOKED_DETAIL)
        return principal


def principal_dependency(
    authenticator: Callable[[Request], Authenticator],
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency giving the caller; `authenticator` finds the app's Authenticator."""

    async def current_principal(request: Request) -> Principal:
        return await authenticator(request).authenticate(request)

    return current_principal
