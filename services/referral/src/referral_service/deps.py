"""The service's state, set up by the lifespan, and the dependencies that read it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.authn import Authenticator, principal_dependency
from common.client_ip import client_address, is_trusted_peer
from common.csrf import state_change_guard
from common.tokens import Principal
from referral_service.config import ReferralSettings
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


async def activating_principal(request: Request) -> Principal:
    """The caller of an activation: authenticated, and under the cap on refused activations."""
    state = state_of(request.app)
    principal, (failures,) = await state.authenticator.authenticate_reading(
        request, lambda caller: [failures_key(caller.user_id)]
    )
    state.activation_failures.check(failures)
    return principal


ActivatingPrincipal = Annotated[Principal, Depends(activating_principal)]

STATE_CHANGE = state_change_guard(lambda request: state_of(request.app).settings.allowed_origins)


async def get_client_address(request: Request) -> str:
    """The client's IP, X-Forwarded-For believed only from TRUSTED_PROXIES (as in auth)."""
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded_for, state_of(request.app).settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]

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
