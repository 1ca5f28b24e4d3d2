"""The profile service app: `uvicorn profile_service.main:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI
from httpx_aiohttp import AiohttpTransport

from common.app import app_settings, create_service_app
from common.ops import ReadinessCheck
from common.redis import async_redis_from_url
from common.tokens import KeySource, TokenVerifier, auth_keys
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
                lambda: _upstream_http(str(config.referral_service_url), config, referral_transport)
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


def _upstream_http(
    base_url: str, settings: ProfileSettings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """One pooled client; every phase of a call bounded by the upstream timeout.

    The transport is aiohttp's connection pool under httpx's API (httpx-aiohttp): httpx's own
    pool costs four times the CPU per call at the profile's concurrency.
    """
    limits = httpx.Limits(
        max_connections=UPSTREAM_CONNECTIONS,
        max_keepalive_connections=UPSTREAM_CONNECTIONS,
        # Shorter than uvicorn's 5 s keep-alive, so an idle connection is never reused just as
        # the upstream closes it.
        keepalive_expiry=4,
    )
    return httpx.AsyncClient(
        base_url=base_url,
        # Service-to-service calls must not go through an HTTP(S)_PROXY meant for the outside.
        transport=transport or AiohttpTransport(limits=limits, trust_env=False),
        timeout=httpx.Timeout(settings.upstream_timeout_seconds),
        trust_env=False,
    )


def _readiness(app: FastAPI) -> dict[str, ReadinessCheck]:
    state = state_of(app)
    return {
        "redis": state.redis.ping,
        state.profiles.referral.name: state.profiles.referral.check_health,
    }
