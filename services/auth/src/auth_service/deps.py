"""The service's state, set up by the lifespan, and the dependencies of the auth routes.

They do no I/O and are `async def`: FastAPI runs a sync dependency in the thread pool, and
each such hop costs more than the work itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from auth_service.client_ip import client_address
from auth_service.config import ADMIN_ROLE
from auth_service.referral_admin import ReferralAdmin
from auth_service.service import AuthContext
from common.authn import Authenticator, principal_dependency, require_role
from common.csrf import state_change_guard
from common.tokens import Principal


@dataclass(frozen=True, slots=True)
class AuthState:
    context: AuthContext
    # The JWK Set published at /.well-known/jwks.json.
    public_jwks: dict[str, Any]
    # The caller of a signed-in route (its own sessions): a verified, unrevoked access token.
    authenticator: Authenticator
    # Referral's internal admin routes, for the admin API.
    referral: ReferralAdmin


def state_of(app: FastAPI) -> AuthState:
    state: AuthState = app.state.auth
    return state


async def get_context(request: Request) -> AuthContext:
    return state_of(request.app).context


AuthDep = Annotated[AuthContext, Depends(get_context)]

STATE_CHANGE = state_change_guard(
    lambda request: state_of(request.app).context.settings.allowed_origins
)


def client_address_of(request: Request) -> str:
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(
        peer, forwarded_for, state_of(request.app).context.settings.trusted_proxies
    )


async def get_client_address(request: Request) -> str:
    return client_address_of(request)


ClientAddress = Annotated[str, Depends(get_client_address)]
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: state_of(request.app).authenticator))
]


async def get_referral(request: Request) -> ReferralAdmin:
    return state_of(request.app).referral


async def admin_caller(request: Request) -> Principal:
    """The caller if an operator (`admin` role): 401 without a valid token, 403 without the role.

    The verified caller is kept in `request.state.caller` for the audit of the call, a refused
    one included.
    """
    principal = await state_of(request.app).authenticator.authenticate(request)
    request.state.caller = principal
    return require_role(principal, ADMIN_ROLE)


AdminCaller = Annotated[Principal, Depends(admin_caller)]
ReferralDep = Annotated[ReferralAdmin, Depends(get_referral)]
