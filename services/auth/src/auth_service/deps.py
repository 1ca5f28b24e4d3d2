"""The service's state, set up by the lifespan, and the dependencies of the auth routes.

They do no I/O and are `async def`: FastAPI runs a sync dependency in the thread pool, and
each such hop costs more than the work itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from auth_service.client_ip import client_address
from auth_service.service import AuthContext
from common.csrf import check_same_origin, require_json


@dataclass(frozen=True, slots=True)
class AuthState:
    context: AuthContext
    # The JWK Set published at /.well-known/jwks.json.
    public_jwks: dict[str, Any]


def state_of(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


async def get_context(request: Request) -> AuthContext:
    return state_of(request).context


AuthDep = Annotated[AuthContext, Depends(get_context)]


async def same_origin(request: Request, ctx: AuthDep) -> None:
    check_same_origin(request, ctx.settings.allowed_origins)


# Every state-changing route: JSON bodies only, and no cookie-borne request from another site.
STATE_CHANGE = [Depends(require_json), Depends(same_origin)]


async def get_client_address(request: Request, ctx: AuthDep) -> str:
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded_for, ctx.settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]
