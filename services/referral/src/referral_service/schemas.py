"""Request and response bodies of the referral endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from referral_service.codes import CODE_PATTERN

InviteCode = Annotated[
    str,
    StringConstraints(strict=True, pattern=CODE_PATTERN),
    Field(description="6 characters of [A-Za-z0-9], case-sensitive.", examples=["5L7opy"]),
]


class ActivationRequest(BaseModel):
    invite_code: InviteCode


class ActivationResponse(BaseModel):
    activated_invite_code: str
    activated_at: datetime = Field(description="ISO 8601, UTC.")


class InvitedUser(BaseModel):
    id: int
    phone: str
    activated_at: datetime


class InvitedUsersPage(BaseModel):
    items: list[InvitedUser]
    next: str | None = Field(description="URL of the next (older) page, or null on the last.")


class ReferralOverview(BaseModel):
    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_users: list[InvitedUser]
    invited_count: int
    invited_users_next: str | None


class ErrorBody(BaseModel):
    """Every error answer; some codes add fields (e.g. activated_invite_code, errors)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    code: str
