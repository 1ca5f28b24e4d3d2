"""The whole system in one ASGI app: the three service apps, composed in-process, plus the pages.

Public paths (exact, or under a prefix such as `/i/`) go to the app that owns them, by the
gateway's own table (`gateway_config.rules`); internal paths (`/internal/...`, `/metrics`,
`/healthz`, ...) are not routed, as through the gateway. The profile service and auth's admin
API reach referral through `httpx.ASGITransport`, and referral and profile trust auth's public
keys directly, so no socket is opened between the parts. Every setting is still read from the
environment first (ADMIN_PHONES, AUDIT_HASH_KEY, ...), over the embedded defaults.
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
from gateway_config import rules
from profile_service.config import ProfileSettings
from profile_service.main import create_app as create_profile_app
from referral_service.config import ReferralSettings
from referral_service.main import create_app as create_referral_app
from runmodes.settings import RunSettings

# The edge's headers, as ASGI sends them.
SECURITY_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in rules.SECURITY_HEADERS.items()
]
NO_CACHE = {"Cache-Control": rules.PAGE_CACHE_CONTROL}
# Referral's base URL for its in-process clients: the transport answers it, no socket is opened.
REFERRAL_URL = "http://referral.internal"

S = TypeVar("S", bound=BaseSettings)


def embedded_settings(cls: type[S], defaults: Mapping[str, Any]) -> S:
    """`cls` with embedded defaults; an environment variable of the same name still wins.

    A configuration production refuses ends the process with one line per problem.
    """
    return load_settings(
        cls, **{key: value for key, value in defaults.items() if key.upper() not in os.environ}
    )


def create_app(settings: RunSettings | None = None) -> FastAPI:
    settings = settings or RunSettings()
    var, frontend = settings.var_dir, settings.frontend_dir
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
            "referral_service_url": REFERRAL_URL,
        },
    )
    # One key ring: auth signs with it, the others verify with its public half in-process.
    keys = load_key_ring(auth_settings)
    referral = create_referral_app(
        embedded_settings(
            ReferralSettings,
            {**shared, "referral_database_url": f"sqlite:///{var / 'referral.db'}"},
        ),
        key_source=StaticKeySource(keys.jwks),
    )
    # Auth's admin API and profile both read referral's data through an in-process transport.
    auth = create_auth_app(
        auth_settings, keys=keys, referral_transport=httpx.ASGITransport(app=referral)
    )
    profile = create_profile_app(
        embedded_settings(
            ProfileSettings,
            {**shared, "referral_service_url": REFERRAL_URL},
        ),
        key_source=StaticKeySource(keys.jwks),
        referral_transport=httpx.ASGITransport(app=referral),
    )
    owners = {"auth": auth, "referral": referral, "profile": profile}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for service in owners.values():
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    # As through the gateway: an API URL without its trailing slash is not found, not redirected.
    app.router.redirect_slashes = False
    static = rules.STATIC_PREFIX.strip("/")
    app.router.routes.extend(
        [Route(route.path, endpoint=owners[route.service]) for route in rules.API_ROUTES]
        # Every path under the prefix; the service answers those it does not know with 404.
        + [
            Route(f"{route.prefix}{{rest:path}}", endpoint=owners[route.service])
            for route in rules.PREFIX_ROUTES
        ]
        + [Route(path, endpoint=_page(frontend / file)) for path, file in rules.PAGES.items()]
        + [Route(path, endpoint=_moved(page)) for path, page in rules.page_redirects().items()]
        + [Mount(f"/{static}", app=_Revalidated(StaticFiles(directory=frontend / static)))]
    )
    app.add_middleware(EdgeMiddleware)
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
                cache_control = rules.PAGE_CACHE_CONTROL.encode("latin-1")
                headers = [*message.get("headers", []), (b"cache-control", cache_control)]
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
            if len(body) > rules.MAX_BODY_BYTES:
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
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_headers
