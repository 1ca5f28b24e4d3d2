"""The auth service app: `uvicorn auth_service.main:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from auth_service import admin_api, api
from auth_service.audit import AuditLog
from auth_service.config import AuthSettings
from auth_service.deps import AuthState, state_of
from auth_service.jwt_keys import KeyRing, load_key_ring
from auth_service.models import WEBHOOK_OUTBOX
from auth_service.otp import OtpPolicy, OtpStore
from auth_service.referral_admin import REFERRAL_CONNECTIONS, ReferralAdmin
from auth_service.repository import USER_REGISTERED
from auth_service.service import AuthContext
from auth_service.sessions import Sessions
from auth_service.sms import DevSmsInbox, build_sms_backend
from auth_service.tokens import AccessTokens
from common import outbox
from common.app import app_settings, create_service_app
from common.authn import Authenticator
from common.db.engine import create_db_engine, ping
from common.migrations import run_migrations
from common.ops import ReadinessCheck
from common.redis import async_redis_from_url
from common.tokens import StaticKeySource, TokenVerifier
from common.upstream import pooled_client

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Verifiers accept a token this long after its `exp` (clock skew between machines).
VERIFIER_LEEWAY_SECONDS = 5


def build_context(
    settings: AuthSettings,
    keys: KeyRing,
    engine: AsyncEngine,
    redis: Redis,
    http: httpx.AsyncClient,
) -> AuthContext:
    inbox = DevSmsInbox(redis, ttl_seconds=settings.otp_ttl_seconds)
    return AuthContext(
        settings=settings,
        engine=engine,
        redis=redis,
        otps=OtpStore(
            redis,
            secret=settings.otp_hmac_secret.get_secret_value().encode(),
            policy=OtpPolicy(
                ttl_seconds=settings.otp_ttl_seconds,
                max_attempts=settings.otp_max_attempts,
                lockout_failures=settings.otp_lockout_failures,
                lockout_seconds=settings.otp_lockout_seconds,
                lockout_failures_per_phone=settings.otp_lockout_failures_per_phone,
                max_verify_failures_per_ip=settings.otp_max_verify_failures_per_ip_per_hour,
                resend_cooldown_seconds=settings.otp_resend_cooldown_seconds,
                max_sends_per_phone=settings.otp_max_per_phone_per_hour,
                max_sends_per_ip=settings.otp_max_per_ip_per_hour,
            ),
        ),
        sms=build_sms_backend(settings, inbox if settings.dev_sms_inbox else None, http),
        inbox=inbox,
        access_tokens=AccessTokens(
            signing_key=keys.signing_key,
            kid=keys.kid,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        ),
        sessions=Sessions(
            redis,
            ttl_seconds=settings.refresh_token_ttl_seconds,
            grace_seconds=settings.refresh_reuse_grace_seconds,
            # An access token of a revoked session lives at most this much longer.
            revocation_seconds=settings.access_token_ttl_seconds + VERIFIER_LEEWAY_SECONDS,
        ),
        verifier=TokenVerifier(
            keys=StaticKeySource(keys.jwks),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=VERIFIER_LEEWAY_SECONDS,
        ),
        audit=AuditLog(engine, hash_key=settings.audit_hash_key.get_secret_value().encode()),
    )


def create_app(
    settings: AuthSettings | None = None,
    *,
    keys: KeyRing | None = None,
    referral_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app for `settings`; without them, read the environment and own the process's logging.

    `keys` hands over a signing key loaded already (the single-process mode shares its public
    half with the other services); without it the key is loaded from the settings now.
    `referral_transport` replaces the network to referral's internal admin routes (an ASGI
    transport onto an in-process app).
    """
    config = app_settings(settings, AuthSettings, service="auth")
    key_ring = keys or load_key_ring(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(
            run_migrations, script_location=MIGRATIONS, url=config.auth_database_url
        )
        async with AsyncExitStack() as cleanup:
            engine = create_db_engine(config.auth_database_url, pool_size=config.db_pool_size)
            cleanup.push_async_callback(engine.dispose)
            await cleanup.enter_async_context(
                outbox.service_webhooks(engine, WEBHOOK_OUTBOX, [USER_REGISTERED], config)
            )
            redis = async_redis_from_url(config.redis_url)
            cleanup.push_async_callback(redis.aclose)
            # For the SMS gateway: short, and never through a proxy meant for something else.
            http = await cleanup.enter_async_context(
                httpx.AsyncClient(timeout=config.sms_webhook_timeout_seconds, trust_env=False)
            )
            context = build_context(config, key_ring, engine, redis, http)
            referral = ReferralAdmin(
                lambda: pooled_client(
                    str(config.referral_service_url),
                    timeout_seconds=config.upstream_timeout_seconds,
                    connections=REFERRAL_CONNECTIONS,
                    transport=referral_transport,
                )
            )
            cleanup.push_async_callback(referral.aclose)
            app.state.auth = AuthState(
                context=context,
                public_jwks=key_ring.jwks,
                authenticator=Authenticator(verifier=context.verifier, redis=redis),
                referral=referral,
            )
            yield

    app = create_service_app(
        service="auth",
        title="Auth service",
        description="Sign-in by phone and one-time code; issues and revokes the platform's tokens.",
        lifespan=lifespan,
        readiness=_readiness,
    )
    app.include_router(api.router)
    app.include_router(admin_api.router)
    if config.dev_sms_inbox:
        app.include_router(api.dev_router)
    return app


def _readiness(app: FastAPI) -> Mapping[str, ReadinessCheck]:
    context = state_of(app).context
    return {"database": lambda: ping(context.engine), "redis": context.redis.ping}
