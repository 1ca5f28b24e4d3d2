"""Typed clients for the two upstreams the profile is made of: auth and referral.

Each call carries the caller's own access token (`Authorization: Bearer`) and the request id,
rather than a credential of the profile service. That needs no extra secret to mint, store and
rotate in every deployment, and the token is verified, revocation included, by the service that
owns the data it guards: a logged-out token is refused by auth and referral themselves, so the
profile service cannot serve anything the caller could not read directly.

Upstream answers are validated strictly with pydantic; anything but a well-formed 200 becomes
`UpstreamUnavailable`, and an upstream 401 becomes the caller's 401.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import AppError, NotAuthenticated
from common.logging import request_id_var
from profile_service.schemas import InvitedUser

ModelT = TypeVar("ModelT", bound=BaseModel)


class UpstreamUnavailable(AppError):
    """An upstream is down, late, or answered something this service cannot use."""

    status_code = 503
    code = "upstream_unavailable"

    def __init__(self, upstreams: Sequence[str], *, reason: str) -> None:
        self.upstreams = tuple(upstreams)
        # For the log only: the client learns which service failed, not how.
        self.reason = reason
        names = " and ".join(self.upstreams)
        noun = "services are" if len(self.upstreams) > 1 else "service is"
        super().__init__(f"The {names} {noun} unavailable; try again shortly.")

    @classmethod
    def combine(cls, errors: Sequence[UpstreamUnavailable]) -> UpstreamUnavailable:
        upstreams = dict.fromkeys(name for error in errors for name in error.upstreams)
        return cls(list(upstreams), reason="; ".join(error.reason for error in errors))


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AuthUser(_Wire):
    id: int
    phone: str


class ReferralSummary(_Wire):
    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_users: list[InvitedUser]
    invited_count: int
    invited_users_next: str | None


class _Rejection(_Wire):
    detail: str | None = None
    expired: bool = False


class _UpstreamClient:
    name: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def check_health(self) -> None:
        """Raise unless the upstream's liveness endpoint answers 200."""
        response = await self._http.get("/healthz")
        response.raise_for_status()

    async def _get(
        self,
        path: str,
        model: type[ModelT],
        *,
        token: str,
        params: Mapping[str, int] | None = None,
    ) -> ModelT:
        headers = {"Authorization": f"Bearer {token}"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._http.get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 401:
            raise self._rejected(response)
        if response.status_code != 200:
            raise self._unavailable(f"answered HTTP {response.status_code}")
        try:
            return model.model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise self._unavailable(
                f"unusable body ({exc.error_count()} errors; first {first['type']} "
                f"at {list(first['loc'])})"
            ) from exc

    def _unavailable(self, reason: str) -> UpstreamUnavailable:
        return UpstreamUnavailable([self.name], reason=reason)

    @staticmethod
    def _rejected(response: httpx.Response) -> NotAuthenticated:
        """The upstream's refusal, passed on as it would reach the caller directly."""
        try:
            rejection = _Rejection.model_validate_json(response.content)
        except ValidationError:
            return NotAuthenticated()
        if rejection.expired:
            return NotAuthenticated(rejection.detail, expired=True)
        return NotAuthenticated(rejection.detail)


class AuthClient(_UpstreamClient):
    name = "auth"

    async def current_user(self, *, token: str) -> AuthUser:
        """The user the token belongs to, as auth sees it (revocation checked there)."""
        return await self._get("/internal/users/me", AuthUser, token=token)


class ReferralClient(_UpstreamClient):
    name = "referral"

    async def summary(self, *, token: str, limit: int) -> ReferralSummary:
        """The caller's invite code, activated code and first page of invited users."""
        return await self._get(
            "/internal/referral/me", ReferralSummary, token=token, params={"limit": limit}
        )
