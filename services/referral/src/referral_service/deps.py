"""The service's state, set up by the lifespan, and the dependencies that read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from common.authn import Authenticator, principal_dependency
from common.csrf import check_same_origin, require_json
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


def state_of(request: Request) -> ReferralState:
    state: ReferralState = request.app.state.referral
    return state


async def get_state(request: Request) -> ReferralState:
    return state_of(request)


StateDep = Annotated[ReferralState, Depends(get_state)]
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: state_of(request).authenticator))
]


async def activating_principal(request: Request) -> Principal:
    """The caller of an activation: authenticated, and under the cap on refused activations."""
    state = state_of(request)
    principal, (failures,) = await state.authenticator.authenticate_reading(
        request, lambda caller: [failures_key(caller.user_id)]
    )
    state.activation_failures.check(failures)
    return principal


ActivatingPrincipal = Annotated[Principal, Depends(activating_principal)]


async def same_origin(request: Request, state: StateDep) -> None:
    check_same_origin(request, state.settings.allowed_origins)


# Every state-changing route: JSON bodies only, and no cookie-borne request from another site.
STATE_CHANGE = [Depends(require_json), Depends(same_origin)]
