"""The service's state, set up by the lifespan, and the dependencies of the auth routes.

They do no I/O and are `async def`: FastAPI runs a sync dependency in the thread pool, and
each such hop costs more than the work itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from auth_service.client_ip import client_address
from auth_service.service import AuthContext
from common.authn import Authenticator, principal_dependency
from common.csrf import state_change_guard
from common.tokens import Principal


@dataclass(frozen=True, slots=True)
class AuthState:
    context: AuthContext
    # The JWK Set published at /.well-known/jwks.json.
    public_jwks: dict[str, Any]
    # The caller of a signed-in route (its own sessions): a verified, unrevoked access token.
    authenticator: Authenticator


def state_of(app: FastAPI) -> AuthState:
    state: AuthState = app.state.auth
    return state


async def get_context(request: Request) -> AuthContext:
    return state_of(request.app).context


AuthDep = Annotated[AuthContext, Depends(get_context)]

STATE_CHANGE = state_change_guard(
    lambda request: state_of(request.app).context.settings.allowed_origins
)


async def get_client_address(request: Request, ctx: AuthDep) -> str:
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded_for, ctx.settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: state_of(request.app).authenticator))
]
