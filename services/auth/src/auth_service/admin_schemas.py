"""Request and response bodies of the admin API (`/admin/api/`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from auth_service.models import MAX_BAN_REASON_LENGTH


class UserItem(BaseModel):
    id: int
    phone: str
    created_at: datetime
    last_login_at: datetime
    invite_code: str | None = Field(description="Null while referral has never seen the user.")
    activated_invite_code: str | None
    invited_count: int
    banned: bool = Field(description="A ban is in force.")
    banned_until: datetime | None = Field(
        description="The end of the ban in force; null for a ban without end, or no ban."
    )
    ban_reason: str | None = Field(description="The reason of the ban in force.")
    locked_until: datetime | None = Field(
        description="When the phone's sign-in lockout for everyone ends; null if not locked."
    )


class UsersPage(BaseModel):
    items: list[UserItem]
    next: str | None = Field(description="The cursor of the next page; null on the last.")


class ChainLinkOut(BaseModel):
    id: int
    phone: str
    invite_code: str | None


class InviteeOut(BaseModel):
    id: int
    phone: str
    activated_at: datetime


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str


class UserCard(UserItem):
    inviter_chain: list[ChainLinkOut] = Field(description="Direct inviter first, at most 50.")
    invitees: list[InviteeOut] = Field(description="The first page, newest first.")
    invitees_next: str | None
    active_sessions: int
    sessions: list[SessionOut] = Field(description="Newest first, at most 100.")


class BanRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_BAN_REASON_LENGTH)
    until: AwareDatetime | None = Field(
        None, description="ISO 8601 with an offset, in the future; null: until lifted."
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("A ban needs a reason.")
        return value.strip()


class StatsTotals(BaseModel):
    sign_ins: int
    new_users: int
    otp_sends: int
    lockouts: int
    activations: int
    refused_activations: int
    users: int = Field(description="Every user registered so far.")


class StatsDay(BaseModel):
    date: date
    sign_ins: int
    new_users: int
    otp_sends: int
    lockouts: int
    activations: int
    refused: dict[str, int] = Field(description="Refused activations by the code answered.")


class TopInviterOut(BaseModel):
    id: int
    phone: str
    invite_code: str | None
    invited_count: int


class Stats(BaseModel):
    model_config = {"populate_by_name": True}

    days: int
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    totals: StatsTotals
    series: list[StatsDay] = Field(description="One entry per UTC day, oldest first.")
    refused_by_reason: dict[str, int]
    top_inviters: list[TopInviterOut]


class AuditItem(BaseModel):
    id: str = Field(description="`auth-<n>` or `referral-<n>`.")
    at: datetime
    type: str
    actor_id: int | None
    subject_id: int | None
    subject_phone: str | None
    ip_hash: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditItem]
    next: str | None
