"""The profile service app: `uvicorn profile_service.main:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from common.app import create_service_app
from common.logging import configure_logging
from common.ops import ReadinessCheck
from profile_service.api import router
from profile_service.clients import AuthClient, ReferralClient
from profile_service.config import ProfileSettings
from profile_service.service import ProfileService

SERVICE = "profile"


def create_app(
    settings: ProfileSettings | None = None,
    *,
    auth_transport: httpx.AsyncBaseTransport | None = None,
    referral_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Transports, when given, replace the network (e.g. ASGI transports onto in-process apps)."""
    settings = settings or ProfileSettings()
    configure_logging(service=SERVICE, level=settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            _upstream_http(str(settings.auth_service_url), settings, auth_transport) as auth,
            _upstream_http(
                str(settings.referral_service_url), settings, referral_transport
            ) as referral,
        ):
            app.state.profile_service = ProfileService(
                auth=AuthClient(auth),
                referral=ReferralClient(referral),
                page_size=settings.invited_users_page_size,
                deadline_seconds=settings.upstream_timeout_seconds,
            )
            yield

    app = create_service_app(
        service=SERVICE, title="Profile service", lifespan=lifespan, readiness=_readiness
    )
    app.state.settings = settings
    app.include_router(router)
    return app


def _upstream_http(
    base_url: str, settings: ProfileSettings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """One pooled client per upstream for the app's life."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(settings.upstream_timeout_seconds),
        # Shorter than uvicorn's 5 s keep-alive, so an idle connection is never reused just as
        # the upstream closes it.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=4),
        # Service-to-service calls must not go through an HTTP(S)_PROXY meant for the outside.
        trust_env=False,
    )


def _readiness(app: FastAPI) -> dict[str, ReadinessCheck]:
    profiles: ProfileService = app.state.profile_service
    return {client.name: client.check_health for client in (profiles.auth, profiles.referral)}
