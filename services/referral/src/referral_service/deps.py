"""The service's state, set up by the lifespan, and the dependencies that read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.authn import Authenticator, principal_dependency
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
