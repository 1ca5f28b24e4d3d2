"""The auth service app: `uvicorn auth_service.main:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from redis import Redis
from starlette.concurrency import run_in_threadpool

from auth_service import api
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, load_key_ring
from auth_service.otp import OtpStore
from auth_service.ratelimit import SendLimiter
from auth_service.service import AuthContext
from auth_service.sms import DevSmsInbox, build_sms_backend
from auth_service.tokens import AccessTokens, RefreshTokens
from common.app import create_service_app
from common.db import create_db_engine, ping, run_migrations
from common.logging import configure_logging
from common.ops import ReadinessCheck
from common.redis import redis_from_url
from common.security import RevocationList, StaticKeySource, TokenVerifier

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build_context(settings: AuthSettings, keys: KeyRing, redis: Redis) -> AuthContext:
    revocations = RevocationList(redis)
    return AuthContext(
        settings=settings,
        otps=OtpStore(
            redis,
            secret=settings.otp_hmac_secret.get_secret_value().encode(),
            ttl_seconds=settings.otp_ttl_seconds,
            max_attempts=settings.otp_max_attempts,
            lockout_failures=settings.otp_lockout_failures,
            lockout_seconds=settings.otp_lockout_seconds,
        ),
        limiter=SendLimiter(
            redis,
            cooldown_seconds=settings.otp_resend_cooldown_seconds,
            per_phone_per_hour=settings.otp_max_per_phone_per_hour,
            per_ip_per_hour=settings.otp_max_per_ip_per_hour,
        ),
        sms=build_sms_backend(settings),
        inbox=DevSmsInbox(redis),
        access_tokens=AccessTokens(
            signing_key=keys.signing_key,
            kid=keys.kid,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        ),
        refresh_tokens=RefreshTokens(redis, ttl_seconds=settings.refresh_token_ttl_seconds),
        verifier=TokenVerifier(
            keys=StaticKeySource(keys.jwks),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            revocations=revocations,
        ),
        revocations=revocations,
    )


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    return {
        "database": lambda: ping(app.state.engine),
        "redis": lambda: app.state.redis.ping(),
    }


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """The app for `settings`; without them, read the environment and own the process's logging."""
    if settings is None:
        settings = AuthSettings()
        configure_logging(service="auth", level=settings.log_level, json=settings.log_json)
    config = settings
    if config.is_production and config.dev_sms_inbox:
        logger.warning("DEV_SMS_INBOX=true in production: anyone can read sign-in codes")
    # Loaded here, not in the lifespan: the single-process mode hands the public keys to the
    # referral app before anything starts.
    keys = load_key_ring(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(
            run_migrations, script_location=MIGRATIONS, url=config.auth_database_url
        )
        engine = create_db_engine(config.auth_database_url, pool_size=config.db_pool_size)
        redis = redis_from_url(config.redis_url)
        context = build_context(config, keys, redis)
        app.state.engine = engine
        app.state.redis = redis
        app.state.auth = context
        app.state.token_verifier = context.verifier
        try:
            yield
        finally:
            redis.close()
            engine.dispose()

    app = create_service_app(
        service="auth",
        title="Auth service",
        description="Sign-in by phone and one-time code; issues and revokes the platform's tokens.",
        lifespan=lifespan,
        readiness=_readiness,
    )
    app.state.settings = config
    app.state.public_jwks = keys.jwks
    app.include_router(api.router)
    if config.dev_sms_inbox:
        app.include_router(api.dev_router)
    app.include_router(api.internal_router)
    return app
