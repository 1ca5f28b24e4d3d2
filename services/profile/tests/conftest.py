"""Fakes at the edge: auth and referral as small FastAPI apps behind httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from profile_service.config import ProfileSettings
from profile_service.main import create_app

AUTH_USER = {"id": 1, "phone": "9991234567"}
REFERRAL_SUMMARY = {
    "user_id": 1,
    "invite_code": "5L7opy",
    "activated_invite_code": None,
    "invited_users": [{"id": 2, "phone": "9990000001", "activated_at": "2026-11-27T10:00:00Z"}],
    "invited_count": 1,
    "invited_users_next": None,
}


@dataclass(frozen=True)
class Seen:
    headers: dict[str, str]
    query: dict[str, str]


class FakeUpstream:
    """Answers `path` with what the test sets (`status`, `body` or `raw`, after `delay` s)."""

    def __init__(self, path: str, body: object) -> None:
        self.status = 200
        self.body = body
        self.raw: bytes | None = None
        self.delay = 0.0
        self.healthy = True
        self.seen: list[Seen] = []
        self.cancelled = False
        app = FastAPI()
        app.add_api_route(path, self._answer)
        app.add_api_route("/healthz", self._health)
        self.transport = httpx.ASGITransport(app=app)

    async def _answer(self, request: Request) -> Response:
        self.seen.append(Seen(dict(request.headers), dict(request.query_params)))
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.raw is not None:
            return Response(self.raw, status_code=self.status, media_type="text/plain")
        return JSONResponse(self.body, status_code=self.status)

    async def _health(self) -> Response:
        return JSONResponse({"status": "ok"}, status_code=200 if self.healthy else 503)


@pytest.fixture
def auth() -> FakeUpstream:
    return FakeUpstream("/internal/users/me", dict(AUTH_USER))


@pytest.fixture
def referral() -> FakeUpstream:
    return FakeUpstream("/internal/referral/me", dict(REFERRAL_SUMMARY))


@pytest.fixture
def make_client(auth: FakeUpstream, referral: FakeUpstream) -> Iterator[Callable[..., TestClient]]:
    """A running profile app; an `auth_url`/`referral_url` replaces that fake with a real socket."""
    with ExitStack() as stack:

        def make(
            *, auth_url: str | None = None, referral_url: str | None = None, **settings: Any
        ) -> TestClient:
            if auth_url:
                settings["auth_service_url"] = auth_url
            if referral_url:
                settings["referral_service_url"] = referral_url
            app = create_app(
                ProfileSettings(**settings),
                auth_transport=None if auth_url else auth.transport,
                referral_transport=None if referral_url else referral.transport,
            )
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
