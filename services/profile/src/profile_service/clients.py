"""The referral service, asked for a profile document when none is stored.

The call carries the caller's own access token (`Authorization: Bearer`) and the request id,
rather than a credential of the profile service: that needs no extra secret to mint, store and
rotate, and referral verifies the token (its session included) itself, so this service cannot
be made to read anything the caller could not read directly.

The answer is validated strictly; anything but a well-formed 200 is `UpstreamUnavailable`,
and referral's 401 becomes the caller's.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ValidationError

from common.errors import AppError, NotAuthenticated
from common.logging import request_id_var
from profile_service.schemas import StoredDocument

PROFILE_PATH = "/internal/referral/profile"


class UpstreamUnavailable(AppError):
    """Referral is down, late, or answered something this service cannot use."""

    status_code = 503
    code = "upstream_unavailable"

    def __init__(self, *, reason: str) -> None:
        # For the log only: the client learns that the service failed, not how.
        self.reason = reason
        super().__init__("The referral service is unavailable; try again shortly.")


class ReferralDocument(StoredDocument):
    """Referral's answer: the stored document, and whose it is."""

    user_id: int


class _Rejection(BaseModel):
    detail: str | None = None
    expired: bool = False


class ReferralClient:
    name = "referral"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def check_health(self) -> None:
        """Raise unless referral's liveness endpoint answers 200."""
        response = await self._http.get("/healthz")
        response.raise_for_status()

    async def profile_document(self, *, token: str) -> ReferralDocument:
        """The caller's invite code, activated code, count and first page of invitees."""
        headers = {"Authorization": f"Bearer {token}"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._http.get(PROFILE_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(reason=f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 401:
            raise _rejected(response)
        if response.status_code != 200:
            raise UpstreamUnavailable(reason=f"answered HTTP {response.status_code}")
        try:
            return ReferralDocument.model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise UpstreamUnavailable(
                reason=f"unusable body ({exc.error_count()} errors; first {first['type']} "
                f"at {list(first['loc'])})"
            ) from exc


def _rejected(response: httpx.Response) -> NotAuthenticated:
    """Referral's refusal, passed on as it would reach the caller directly."""
    try:
        rejection = _Rejection.model_validate_json(response.content)
    except ValidationError:
        return NotAuthenticated()
    if rejection.expired:
        return NotAuthenticated(rejection.detail, expired=True)
    return NotAuthenticated(rejection.detail)
