"""The service's state, set up by the lifespan, and the dependencies that read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis

from common.tokens import TokenVerifier
from profile_service.config import ProfileSettings
from profile_service.service import ProfileService


@dataclass(frozen=True, slots=True)
class ProfileState:
    settings: ProfileSettings
    redis: Redis
    verifier: TokenVerifier
    profiles: ProfileService


def state_of(app: FastAPI) -> ProfileState:
    state: ProfileState = app.state.profile
    return state


# `async def`: a dependency that does no I/O then runs on the event loop, not in a thread.
async def get_state(request: Request) -> ProfileState:
    return state_of(request.app)


StateDep = Annotated[ProfileState, Depends(get_state)]
