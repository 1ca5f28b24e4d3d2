"""The referral service app: `uvicorn referral_service.main:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from common import outbox
from common.app import app_settings, create_service_app
from common.authn import Authenticator
from common.db.engine import create_db_engine, ping
from common.migrations import run_migrations
from common.ops import ReadinessCheck
from common.redis import async_redis_from_url
from common.tokens import KeySource, TokenVerifier, auth_keys
from referral_service import share
from referral_service.api import (
    activation_router,
    admin_router,
    internal_router,
    public_router,
    share_router,
)
from referral_service.config import ReferralSettings
from referral_service.deps import ReferralState, state_of
from referral_service.limits import ActivationFailures
from referral_service.models import WEBHOOK_OUTBOX
from referral_service.repository import REFERRAL_ACTIVATED

SERVICE = "referral"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(
    settings: ReferralSettings | None = None, *, key_source: KeySource | None = None
) -> FastAPI:
    """The app for `settings`; without them, read the environment and own the process's logging.

    `key_source` hands over the auth service's public keys in-process (single-process mode,
    tests); without it they are fetched from JWKS_URL and cached.
    """
    config = app_settings(settings, ReferralSettings, service=SERVICE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = config.referral_database_url
        await run_in_threadpool(run_migrations, script_location=MIGRATIONS, url=url)
        await run_in_threadpool(share.warm_up)
        async with AsyncExitStack() as cleanup:
            engine = create_db_engine(url, pool_size=config.db_pool_size)
            cleanup.push_async_callback(engine.dispose)
            await cleanup.enter_async_context(
                outbox.service_webhooks(engine, WEBHOOK_OUTBOX, [REFERRAL_ACTIVATED], config)
            )
            redis = async_redis_from_url(config.redis_url)
            cleanup.push_async_callback(redis.aclose)
            keys = await cleanup.enter_async_context(
                auth_keys(key_source, jwks_url=config.jwks_url)
            )
            verifier = TokenVerifier(
                keys=keys, issuer=config.jwt_issuer, audience=config.jwt_audience
            )
            app.state.referral = ReferralState(
                settings=config,
                engine=engine,
                redis=redis,
                authenticator=Authenticator(verifier=verifier, redis=redis),
                activation_failures=ActivationFailures(
                    redis, per_hour=config.activation_failures_per_user_per_hour
                ),
            )
            yield

    app = create_service_app(
        service=SERVICE,
        title="Referral service",
        description="Invite codes, their activation, and the list of invited users.",
        lifespan=lifespan,
        readiness=_readiness,
    )
    app.include_router(activation_router)
    app.include_router(public_router)
    app.include_router(internal_router)
    app.include_router(admin_router)
    app.include_router(share_router)
    return app


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    state = state_of(app)
    return {"database": lambda: ping(state.engine), "redis": state.redis.ping}
