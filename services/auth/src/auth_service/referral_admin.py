"""Referral's internal admin routes, for the admin API: members, a member's tree, stats, audit.

Each call carries the operator's own access token (`Authorization: Bearer`) and the request
id, as profile calls referral: referral checks the token, its session and its `admin` role
itself. Answers are validated strictly; referral's 401 becomes the caller's, and anything else
but a well-formed answer is 503 `upstream_unavailable`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel, ValidationError

from auth_service.errors import UpstreamUnavailable
from common.audit import Event
from common.errors import NotAuthenticated
from common.logging import request_id_var

MEMBERS_PATH = "/internal/admin/members"
STATS_PATH = "/internal/admin/stats"
AUDIT_PATH = "/internal/admin/audit"
# Audit event types referral writes: a filter on one of them asks referral only.
TYPES = frozenset({"activation.succeeded", "activation.refused"})
# Connections kept to referral: the admin API is a handful of operators.
UPSTREAM_CONNECTIONS = 16

M = TypeVar("M", bound=BaseModel)


class Member(BaseModel):
    user_id: int
    invite_code: str | None
    activated_invite_code: str | None
    invited_count: int


class Members(BaseModel):
    items: list[Member]


class ChainLink(BaseModel):
    id: int
    phone: str
    invite_code: str | None


class Invitee(BaseModel):
    id: int
    phone: str
    activated_at: datetime


class MemberCard(Member):
    inviter_chain: list[ChainLink]
    invitees: list[Invitee]
    invitees_next: str | None


class ReferralDay(BaseModel):
    date: date
    activations: int
    refused: dict[str, int]


class TopInviter(BaseModel):
    id: int
    phone: str
    invite_code: str | None
    invited_count: int


class ReferralStats(BaseModel):
    series: list[ReferralDay]
    top_inviters: list[TopInviter]


class ReferralAudit(BaseModel):
    items: list[Event]


class _Rejection(BaseModel):
    detail: str | None = None


def referral_http(
    base_url: str, *, timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One pooled client to referral (aiohttp's pool under httpx's API, as profile's), every
    phase of a call bounded by UPSTREAM_TIMEOUT_SECONDS; `transport` replaces the network."""
    limits = httpx.Limits(
        max_connections=UPSTREAM_CONNECTIONS,
        max_keepalive_connections=UPSTREAM_CONNECTIONS,
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


class ReferralAdmin:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def aclose(self) -> None:
        await self._http.aclose()

    async def members(self, ids: list[int], *, token: str) -> dict[int, Member]:
        """Referral's data of the users `ids` that it has seen, by user id."""
        if not ids:
            return {}
        answer = await self._call("POST", MEMBERS_PATH, Members, token=token, json={"ids": ids})
        assert answer is not None
        return {member.user_id: member for member in answer.items}

    async def member(self, user_id: int, *, token: str) -> MemberCard | None:
        """The member's data, inviter chain and first invitees; None if referral never saw it."""
        return await self._call(
            "GET", f"{MEMBERS_PATH}/{user_id}", MemberCard, token=token, missing_ok=True
        )

    async def stats(self, days: int, *, token: str) -> ReferralStats:
        answer = await self._call(
            "GET", STATS_PATH, ReferralStats, token=token, params={"days": days}
        )
        assert answer is not None
        return answer

    async def audit(
        self,
        *,
        token: str,
        type: str | None,
        user_id: int | None,
        before_id: int | None,
        limit: int,
    ) -> list[Event]:
        """Referral's audit events, newest first."""
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (("type", type), ("user_id", user_id), ("before_id", before_id)):
            if value is not None:
                params[name] = value
        answer = await self._call("GET", AUDIT_PATH, ReferralAudit, token=token, params=params)
        assert answer is not None
        return answer.items

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        token: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> M | None:
        headers = {"Authorization": f"Bearer {token}"}
        request_id = request_id_var.get()
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._http.request(
                method, path, headers=headers, params=params, json=json
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(reason=f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 401:
            raise _rejected(response)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise UpstreamUnavailable(reason=f"{path} answered HTTP {response.status_code}")
        try:
            return model.model_validate_json(response.content, strict=True)
        except ValidationError as exc:
            raise UpstreamUnavailable(
                reason=f"{path}: unusable body ({exc.error_count()} errors)"
            ) from exc


def _rejected(response: httpx.Response) -> NotAuthenticated:
    """Referral's 401, passed on as it would reach the caller directly."""
    try:
        return NotAuthenticated(_Rejection.model_validate_json(response.content).detail)
    except ValidationError:
        return NotAuthenticated()
