"""Referral's internal admin routes, for the admin API: members, a member's tree, stats, audit.

Each call carries the operator's own access token, as profile calls referral
(`common.upstream`): referral checks the token, its session and its `admin` role itself.
Answers are validated strictly; referral's 401 becomes the caller's, and anything else but a
well-formed answer is 503 `upstream_unavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from common.audit import Event
from common.upstream import Upstream

MEMBERS_PATH = "/internal/admin/members"
STATS_PATH = "/internal/admin/stats"
AUDIT_PATH = "/internal/admin/audit"
# Audit event types referral writes: a filter on one of them asks referral only.
TYPES = frozenset({"activation.succeeded", "activation.refused"})
# Connections kept to referral: the admin API is a handful of operators.
REFERRAL_CONNECTIONS = 16

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


class ReferralAdmin(Upstream):
    """Referral's admin routes, over one pooled HTTP client replaced if it is found stuck."""

    def __init__(self, make_http: Callable[[], httpx.AsyncClient]) -> None:
        super().__init__("referral", make_http)

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
        response = await self.call(method, path, token=token, params=params, json=json)
        if response.status_code == 404 and missing_ok:
            return None
        return self.parse(model, response)
