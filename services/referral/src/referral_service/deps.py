"""The service's state, set up by the lifespan, and the dependencies that read it."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.authn import Authenticator, principal_dependency, role_dependency
from common.client_ip import client_address, is_trusted_peer
from common.csrf import state_change_guard
from common.errors import TooManyRequests
from common.logging import request_id_var
from common.tokens import Principal
from referral_service import audit, service
from referral_service.config import ReferralSettings
from referral_service.errors import INVALID_INVITE_CODE_FORMAT
from referral_service.limits import ActivationFailures, failures_key


@dataclass(frozen=True, slots=True)
class ReferralState:
    settings: ReferralSettings
    engine: AsyncEngine
    redis: Redis
    authenticator: Authenticator
    activation_failures: ActivationFailures


def state_of(app: FastAPI) -> ReferralState:
    state: ReferralState = app.state.referral
    return state


async def get_state(request: Request) -> ReferralState:
    return state_of(request.app)


StateDep = Annotated[ReferralState, Depends(get_state)]
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: state_of(request.app).authenticator))
]


AdminPrincipal = Annotated[
    Principal,
    Depends(role_dependency(lambda request: state_of(request.app).authenticator, "admin")),
]

STATE_CHANGE = state_change_guard(lambda request: state_of(request.app).settings.allowed_origins)


async def get_client_address(request: Request) -> str:
    """The client's IP, X-Forwarded-For believed only from TRUSTED_PROXIES (as in auth)."""
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded_for, state_of(request.app).settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]


async def get_origin(request: Request, client: ClientAddress) -> audit.Origin:
    """The request's client (keyed hash of its IP) and request id, for its audit rows."""
    key = state_of(request.app).settings.audit_hash_key.get_secret_value().encode()
    return audit.origin(key, client, request_id_var.get())


RequestOrigin = Annotated[audit.Origin, Depends(get_origin)]


async def activating_principal(request: Request, origin: RequestOrigin) -> Principal:
    """The caller of an activation: authenticated, and under the cap on refused activations.

    The cap's refusal (429) is audited here; a malformed code, which FastAPI refuses (422) once
    the dependencies have run, by the route (`ActivationRoute`), with the caller kept here.
    """
    state = state_of(request.app)
    principal, (failures,) = await state.authenticator.authenticate_reading(
        request, lambda caller: [failures_key(caller.user_id)]
    )
    request.state.activating = (principal, origin)
    try:
        state.activation_failures.check(failures)
    except TooManyRequests as refusal:
        await record_refusal(request, refusal.code)
        raise
    return principal


ActivatingPrincipal = Annotated[Principal, Depends(activating_principal)]


async def record_refusal(request: Request, reason: str) -> None:
    """The audit row of an activation refused before the database, by the caller that
    `activating_principal` found (none: nothing to audit, the caller is unknown)."""
    activating: tuple[Principal, audit.Origin] | None = getattr(request.state, "activating", None)
    if activating is None:
        return
    principal, origin = activating
    try:
        body = await request.json()
    except ValueError:
        body = None
    posted = body.get("invite_code") if isinstance(body, dict) else None
    await service.record_refused_activation(
        state_of(request.app).engine,
        user_id=principal.user_id,
        reason=reason,
        invite_code=posted,
        origin=origin,
    )


class ActivationRoute(APIRoute):
    """The activation route: a body FastAPI refuses (422) after the caller was found is a
    refused activation, and audited as one; the check costs nothing on the way to a 200."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await record_refusal(request, INVALID_INVITE_CODE_FORMAT)
                raise

        return audited


# host[:port], or [IPv6]:port: a Host header that is anything else does not make a URL.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


async def get_base_url(request: Request) -> str:
    """The origin share links are made with: PUBLIC_BASE_URL, else the request's own.

    The request's scheme is X-Forwarded-Proto when a trusted proxy (the gateway) sent it; its
    host is the Host header, which the gateway passes on.
    """
    settings = state_of(request.app).settings
    if settings.public_base_url is not None:
        return settings.public_base_url
    scheme = request.url.scheme
    peer = request.client.host if request.client else None
    forwarded_proto = request.headers.get("x-forwarded-proto", "").strip().lower()
    if forwarded_proto in ("http", "https") and is_trusted_peer(peer, settings.trusted_proxies):
        scheme = forwarded_proto
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        server = request.scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


BaseUrl = Annotated[str, Depends(get_base_url)]
