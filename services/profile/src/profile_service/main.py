"""The profile service app: `uvicorn profile_service.main:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from common.app import app_settings, create_service_app
from common.ops import ReadinessCheck
from common.redis import async_redis_from_url
from common.tokens import KeySource, TokenVerifier, auth_keys
from common.upstream import pooled_client
from profile_service.api import router
from profile_service.clients import ReferralClient
from profile_service.config import ProfileSettings
from profile_service.deps import ProfileState, state_of
from profile_service.service import ProfileService

SERVICE = "profile"
# Connections kept to referral: enough for every request in flight to have its own.
UPSTREAM_CONNECTIONS = 64


def create_app(
    settings: ProfileSettings | None = None,
    *,
    key_source: KeySource | None = None,
    referral_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app for `settings`; without them, read the environment and own the process's logging.

    `key_source` hands over the auth service's public keys in-process (single-process mode,
    tests); `referral_transport` replaces the network to referral (an ASGI transport onto an
    in-process app).
    """
    config = app_settings(settings, ProfileSettings, service=SERVICE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as cleanup:
            # Documents are bytes from end to end: they are never decoded here.
            redis = async_redis_from_url(config.redis_url, decode_responses=False)
            cleanup.push_async_callback(redis.aclose)
            referral = ReferralClient(
                lambda: pooled_client(
                    str(config.referral_service_url),
                    timeout_seconds=config.upstream_timeout_seconds,
                    connections=UPSTREAM_CONNECTIONS,
                    transport=referral_transport,
                )
            )
            cleanup.push_async_callback(referral.aclose)
            keys = await cleanup.enter_async_context(
                auth_keys(key_source, jwks_url=config.jwks_url)
            )
            app.state.profile = ProfileState(
                settings=config,
                redis=redis,
                verifier=TokenVerifier(
                    keys=keys, issuer=config.jwt_issuer, audience=config.jwt_audience
                ),
                profiles=ProfileService(
                    redis=redis,
                    referral=referral,
                    ttl_seconds=config.profile_cache_ttl_seconds,
                    deadline_seconds=config.upstream_timeout_seconds,
                ),
            )
            yield

    app = create_service_app(
        service=SERVICE, title="Profile service", lifespan=lifespan, readiness=_readiness
    )
    app.include_router(router)
    return app


def _readiness(app: FastAPI) -> dict[str, ReadinessCheck]:
    state = state_of(app)
    return {
        "redis": state.redis.ping,
        state.profiles.referral.name: state.profiles.referral.check_health,
    }
