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


@dataclass(frozen=True, slots=True)
class ReferralState:
    settings: ReferralSettings
    engine: AsyncEngine
    redis: Redis
    authenticator: Authenticator


def state_of(request: Request) -> ReferralState:
    state: ReferralState = request.app.state.referral
    return state


async def get_state(request: Request) -> ReferralState:
    return state_of(request)


StateDep = Annotated[ReferralState, Depends(get_state)]
CurrentPrincipal = Annotated[
    Principal, Depends(principal_dependency(lambda request: state_of(request).authenticator))
]


async def same_origin(request: Request, state: StateDep) -> None:
    check_same_origin(request, state.settings.allowed_origins)


# Every state-changing route: JSON bodies only, and no cookie-borne request from another site.
STATE_CHANGE = [Depends(require_json), Depends(same_origin)]
