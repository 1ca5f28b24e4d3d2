"""Calls from one service of the stack to another, on the caller's own access token.

A call carries the caller's token (`Authorization: Bearer`) and the request id, rather than a
credential of the calling service: that needs no extra secret to mint, store and rotate, and
the service called verifies the token (its session and roles included) itself, so the caller
can never be made to read anything its user could not read directly.

The service called is reached over one pooled client (`pooled_client`). A pool can be left
with connections that never serve again (encode/httpcore#1093: a request cancelled half-way
through connecting); should one stop answering, it must not stay that way until a restart:
after STUCK_AFTER failures in a row, the service's /healthz is asked over a connection of its
own, and if it answers there the pool is the problem: it is closed and a new one made.

Its 401 becomes the caller's; anything else but a well-formed answer is 503
`upstream_unavailable`, with the reason kept for the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from httpx_aiohttp import AiohttpTransport
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from common.errors import AppError, NotAuthenticated
from common.logging import request_id_var

logger = logging.getLogger(__name__)

# Failed calls in a row before the pool is inspected.
STUCK_AFTER = 20
STUCK_POOLS = Counter(
    "upstream_pools_replaced_total",
    "Connection pools to another service found stuck and replaced",
    ["upstream"],
)

M = TypeVar("M", bound=BaseModel)


class UpstreamUnavailable(AppError):
    """The service called is down, late, or answered something the caller cannot use."""

    status_code = 503
    code = "upstream_unavailable"

    def __init__(self, *, reason: str, upstream: str) -> None:
        # For the log only: the client learns that the service failed, not how.
        self.reason = reason
        super().__init__(f"The {upstream} service is unavailable; try again shortly.")


def pooled_client(
    base_url: str,
    *,
    timeout_seconds: float,
    connections: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client, every phase of a call bounded by `timeout_seconds`.

    The transport is aiohttp's connection pool under httpx's API (httpx-aiohttp): httpx's own
    pool costs four times the CPU per call at the profile's concurrency. `transport` replaces
    the network (an ASGI transport onto an in-process app, a mock).
    """
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        # Shorter than uvicorn's 5 s keep-alive, so an idle connection is never reused just as
        # the upstream closes it.
        keepalive_expiry=4,
    )
    return httpx.AsyncClient(
        base_url=base_url,
        # Service-to-service calls must not go through an HTTP(S)_PROXY meant for the outside.
        transport=transport or AiohttpTransport(limits=limits, trust_env=False),
        timeout=httpx.Timeout(timeout_seconds),
        trust_env=False,
    )


class _Rejection(BaseModel):
    detail: str | None = None
    expired: bool = False


class Upstream:
    """Another service over one pooled client, replaced by a new one if it is found stuck."""

    def __init__(self, name: str, make_http: Callable[[], httpx.AsyncClient]) -> None:
        self.name = name
        self._make_http = make_http
        self._http = make_http()
        self._failures_in_a_row = 0
        self._inspecting = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check_health(self, http: httpx.AsyncClient | None = None) -> None:
        """Raise unless the service's liveness endpoint answers 200."""
        response = await (http or self._http).get("/healthz")
        response.raise_for_status()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """The service's answer to the caller's request; its 401 raised as the caller's."""
        headers = {"Authorization": f"Bearer {token}"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._http.request(
                method, path, headers=headers, params=params, json=json
            )
        except httpx.HTTPError as exc:
            await self._failed()
            raise self.unavailable(f"{type(exc).__name__}: {exc}") from exc
        self._failures_in_a_row = 0
        if response.status_code == 401:
            raise _rejected(response)
        return response

    def parse(self, model: type[M], response: httpx.Response) -> M:
        """A 200's body as `model`, validated strictly; any other answer is unavailable."""
        path = response.request.url.path
        if response.status_code != 200:
            raise self.unavailable(f"{path} answered HTTP {response.status_code}")
        try:
            return model.model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise self.unavailable(
                f"{path}: unusable body ({exc.error_count()} errors; first {first['type']} "
                f"at {list(first['loc'])})"
            ) from exc

    def unavailable(self, reason: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(reason=reason, upstream=self.name)

    async def _failed(self) -> None:
        self._failures_in_a_row += 1
        if self._failures_in_a_row < STUCK_AFTER or self._inspecting.locked():
            return
        async with self._inspecting:
            # At most one inspection per STUCK_AFTER failures, whatever it finds.
            self._failures_in_a_row = 0
            async with self._make_http() as fresh:
                try:
                    await self.check_health(fresh)
                except httpx.HTTPError:
                    return  # The service itself is down: a new pool would not help.
            stuck, self._http = self._http, self._make_http()
            STUCK_POOLS.labels(self.name).inc()
            logger.error(
                "%s answers but the connection pool did not: replaced the pool",
                self.name,
                extra={"upstream": self.name},
            )
            await stuck.aclose()


def _rejected(response: httpx.Response) -> NotAuthenticated:
    """The service's refusal, passed on as it would reach the caller directly."""
    try:
        rejection = _Rejection.model_validate_json(response.content)
    except ValidationError:
        return NotAuthenticated()
    if rejection.expired:
        return NotAuthenticated(rejection.detail, expired=True)
    return NotAuthenticated(rejection.detail)
