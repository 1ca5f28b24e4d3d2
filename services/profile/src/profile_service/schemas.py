"""The public profile (contract §4) and the document stored for it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class InvitedUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    phone: str
    activated_at: datetime


class StoredDocument(BaseModel):
    """Everything in a profile but the identity, which comes from the caller's token."""

    model_config = ConfigDict(frozen=True)

    invite_code: str
    activated_invite_code: str | None
    invited_users: list[InvitedUser]
    invited_count: int
    invited_users_next: str | None


class Profile(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "phone": "9991234567",
                    "invite_code": "5L7opy",
                    "activated_invite_code": None,
                    "invited_users": [
                        {"id": 2, "phone": "9990000001", "activated_at": "2026-11-27T10:00:00Z"}
                    ],
                    "invited_count": 1,
                    "invited_users_next": None,
                }
            ]
        },
    )

    id: int
    phone: str
    invite_code: str
    activated_invite_code: str | None
    invited_users: list[InvitedUser]
    invited_count: int
    invited_users_next: str | None
