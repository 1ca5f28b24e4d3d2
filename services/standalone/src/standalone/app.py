"""The whole system in one ASGI app: the three service apps, composed in-process, plus the pages.

Public paths go to the app that owns them, exactly as the gateway maps them; internal paths
(`/internal/...`, `/metrics`, `/healthz`, ...) are not routed, as through the gateway. The
profile service reaches referral through `httpx.ASGITransport`, and referral and profile trust
auth's public keys directly, so no socket is opened between the parts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic_settings import BaseSettings
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.config import AuthSettings
from auth_service.jwt_keys import load_key_ring
from auth_service.main import create_app as create_auth_app
from common.errors import error_response, install_error_handlers
from common.settings import load_settings
from common.tokens import StaticKeySource
from profile_service.config import ProfileSettings
from profile_service.main import create_app as create_profile_app
from referral_service.config import ReferralSettings
from referral_service.main import create_app as create_referral_app
from standalone.paths import frontend_dir, var_dir

AUTH_PATHS = (
    "/authentication/api_number_input/",
    "/authentication/api_dev_sms/",
    "/authentication/api_otp_input/",
    "/authentication/api_token_refresh/",
    "/authentication/api_logout/",
    "/authentication/.well-known/jwks.json",
)
REFERRAL_PATHS = (
    "/referral_system/api_invite_code_activation/",
    "/referral_system/api_invited_users/",
)
PROFILE_PATHS = ("/profile/api_profile/",)
# The pages, as the gateway serves them: only these and /static/, nothing else of frontend/.
PAGES = {
    "/": "index.html",
    "/number_input/": "number_input/index.html",
    "/otp_input/": "otp_input/index.html",
    "/profile/": "profile/index.html",
}
# Pages and assets are not versioned: browsers revalidate them (ETag) on every use.
NO_CACHE = {"Cache-Control": "no-cache"}

# The gateway's client_max_body_size.
MAX_BODY_BYTES = 16 * 1024

# The same headers the gateway adds to every response.
SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=()",
}

S = TypeVar("S", bound=BaseSettings)


def embedded_settings(cls: type[S], defaults: Mapping[str, Any]) -> S:
    """`cls` with embedded defaults; an environment variable of the same name still wins.

    A configuration production refuses ends the process with one line per problem.
    """
    return load_settings(
        cls, **{key: value for key, value in defaults.items() if key.upper() not in os.environ}
    )


def create_app() -> FastAPI:
    var, frontend = var_dir(), frontend_dir()
    var.mkdir(parents=True, exist_ok=True)
    shared = {
        "redis_url": "memory://standalone",
        "cookie_secure": False,
        "log_json": False,
    }
    auth_settings = embedded_settings(
        AuthSettings,
        {
            **shared,
            "auth_database_url": f"sqlite:///{var / 'auth.db'}",
            "dev_sms_inbox": True,
            "jwt_private_key_file": str(var / "jwt-ed25519.pem"),
            "jwt_generate_key_if_missing": True,
        },
    )
    # One key ring: auth signs with it, the others verify with its public half in-process.
    keys = load_key_ring(auth_settings)
    auth = create_auth_app(auth_settings, keys=keys)
    referral = create_referral_app(
        embedded_settings(
            ReferralSettings,
            {**shared, "referral_database_url": f"sqlite:///{var / 'referral.db'}"},
        ),
        key_source=StaticKeySource(keys.jwks),
    )
    profile = create_profile_app(
        embedded_settings(
            ProfileSettings,
            {**shared, "referral_service_url": "http://referral.internal"},
        ),
        key_source=StaticKeySource(keys.jwks),
        referral_transport=httpx.ASGITransport(app=referral),
    )
    services = (auth, referral, profile)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for service in services:
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    # As through the gateway: an API URL without its trailing slash is not found, not redirected.
    app.router.redirect_slashes = False
    app.router.routes.extend(
        [Route(path, endpoint=auth) for path in AUTH_PATHS]
        + [Route(path, endpoint=referral) for path in REFERRAL_PATHS]
        + [Route(path, endpoint=profile) for path in PROFILE_PATHS]
        + [Route(path, endpoint=_page(frontend / file)) for path, file in PAGES.items()]
        + [Route(path.rstrip("/"), endpoint=_moved(path)) for path in PAGES if path != "/"]
        + [Mount("/static", app=_Revalidated(StaticFiles(directory=frontend / "static")))]
    )
    app.add_middleware(EdgeMiddleware)
    app.state.services = {"auth": auth, "referral": referral, "profile": profile}
    return app


def _page(file: Path) -> Callable[[Request], Awaitable[Response]]:
    async def page(_: Request) -> Response:
        return FileResponse(file, media_type="text/html", headers=NO_CACHE)

    return page


def _moved(location: str) -> Callable[[Request], Awaitable[Response]]:
    async def moved(_: Request) -> Response:
        return RedirectResponse(location, status_code=301)

    return moved


class _Revalidated:
    """Static assets with `Cache-Control: no-cache`, as the gateway sends them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_revalidated(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [*message.get("headers", []), (b"cache-control", b"no-cache")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_revalidated)


class EdgeMiddleware:
    """What the gateway does at the edge: a body-size limit and the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Bodies are small JSON objects: read the whole body first, as nginx buffers it.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                response = error_response(413, "payload_too_large", "Request body too large.")
                await response(scope, receive, self._with_headers(send))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers
