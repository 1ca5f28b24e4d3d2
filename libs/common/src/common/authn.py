"""Who is calling: a verified access token whose session has not been revoked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from redis.asyncio import Redis

from common.errors import Forbidden, NotAuthenticated
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
        principal, _ = await self.authenticate_reading(request, lambda _: [])
        return principal

    async def authenticate_reading(
        self, request: Request, keys_of: Callable[[Principal], list[str]]
    ) -> tuple[Principal, list[Any]]:
        """The caller, and the values of `keys_of(caller)` read in the same round trip."""
        principal = await self.principal(request)
        keys = keys_of(principal)
        revoked, *values = await self._redis.mget(revoked_session_key(principal.session_id), *keys)
        if revoked is not None:
            raise NotAuthenticated(REVOKED_DETAIL)
        return principal, values


def principal_dependency(
    authenticator: Callable[[Request], Authenticator],
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency giving the caller; `authenticator` finds the app's Authenticator."""

    async def current_principal(request: Request) -> Principal:
        return await authenticator(request).authenticate(request)

    return current_principal


def require_role(principal: Principal, role: str) -> Principal:
    """`principal` if its verified token carries `role`; Forbidden otherwise."""
    if role not in principal.roles:
        raise Forbidden()
    return principal


def role_dependency(
    authenticator: Callable[[Request], Authenticator], role: str
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency giving the caller if its token carries `role`.

    Authenticates like `principal_dependency` (401 `not_authenticated`), then answers 403
    `forbidden` to a caller without the role.
    """

    async def principal_with_role(request: Request) -> Principal:
        return require_role(await authenticator(request).authenticate(request), role)

    return principal_with_role
