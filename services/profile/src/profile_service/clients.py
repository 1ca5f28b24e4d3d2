"""The referral service, asked for a profile document when none is stored.

The call carries the caller's own access token (`Authorization: Bearer`) and the request id,
rather than a credential of the profile service: that needs no extra secret to mint, store and
rotate, and referral verifies the token (its session included) itself, so this service cannot
be made to read anything the caller could not read directly.

The answer is validated strictly; anything but a well-formed 200 is `UpstreamUnavailable`,
and referral's 401 becomes the caller's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from common.errors import AppError, NotAuthenticated
from common.logging import request_id_var
from profile_service.schemas import StoredDocument

logger = logging.getLogger(__name__)

PROFILE_PATH = "/internal/referral/profile"
# Failed calls in a row before the pool is inspected.
STUCK_AFTER = 20
STUCK_POOLS = Counter(
    "profile_referral_pools_replaced_total", "Connection pools to referral found stuck and replaced"
)


class UpstreamUnavailable(AppError):
    """Referral is down, late, or answered something this service cannot use."""

    status_code = 503
    code = "upstream_unavailable"

    def __init__(self, *, reason: str) -> None:
        # For the log only: the client learns that the service failed, not how.
        self.reason = reason
        super().__init__("The referral service is unavailable; try again shortly.")


class ProfileDocument(StoredDocument):
    """Referral's answer: the stored document, and whose it is."""

    user_id: int


class _Rejection(BaseModel):
    detail: str | None = None
    expired: bool = False


class ReferralClient:
    """Referral over one pooled HTTP client, replaced by a new one if it is found stuck.

    A pool can be left with connections that never serve again (encode/httpcore#1093: a
    request cancelled half-way through connecting). This service does not cancel its requests,
    but should a pool stop answering anyway, it must not stay that way until a restart: after
    STUCK_AFTER failures in a row, referral's /healthz is asked over a connection of its own,
    and if referral answers there the pool is the problem: it is closed and a new one made.
    """

    name = "referral"

    def __init__(self, make_http: Callable[[], httpx.AsyncClient]) -> None:
        self._make_http = make_http
        self._http = make_http()
        self._failures_in_a_row = 0
        self._inspecting = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check_health(self, http: httpx.AsyncClient | None = None) -> None:
        """Raise unless referral's liveness endpoint answers 200."""
        response = await (http or self._http).get("/healthz")
        response.raise_for_status()

    async def profile_document(self, *, token: str) -> ProfileDocument:
        """The caller's invite code, activated code, count and first page of invitees."""
        headers = {"Authorization": f"Bearer {token}"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._http.get(PROFILE_PATH, headers=headers)
        except httpx.HTTPError as exc:
            await self._failed()
            raise UpstreamUnavailable(reason=f"{type(exc).__name__}: {exc}") from exc
        self._failures_in_a_row = 0
        if response.status_code == 401:
            raise _rejected(response)
        if response.status_code != 200:
            raise UpstreamUnavailable(reason=f"answered HTTP {response.status_code}")
        try:
            return ProfileDocument.model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise UpstreamUnavailable(
                reason=f"unusable body ({exc.error_count()} errors; first {first['type']} "
                f"at {list(first['loc'])})"
            ) from exc

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
                    return  # Referral itself is down: a new pool would not help.
            stuck, self._http = self._http, self._make_http()
            STUCK_POOLS.inc()
            logger.error("referral answers but the connection pool did not: replaced the pool")
            await stuck.aclose()


def _rejected(response: httpx.Response) -> NotAuthenticated:
    """Referral's refusal, passed on as it would reach the caller directly."""
    try:
        rejection = _Rejection.model_validate_json(response.content)
    except ValidationError:
        return NotAuthenticated()
    if rejection.expired:
        return NotAuthenticated(rejection.detail, expired=True)
    return NotAuthenticated(rejection.detail)
