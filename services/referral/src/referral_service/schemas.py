"""Request and response bodies of the referral endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from common.audit import Event
from referral_service import admin
from referral_service.codes import CODE_PATTERN
from referral_service.service import Activation, InviteePage, ReferralProfile
from referral_service.share import Funnel

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

    @classmethod
    def of(cls, activation: Activation) -> ActivationResponse:
        return cls(
            activated_invite_code=activation.invite_code, activated_at=activation.activated_at
        )


class InvitedUser(BaseModel):
    id: int
    phone: str
    activated_at: datetime


class InvitedUsersPage(BaseModel):
    items: list[InvitedUser]
    next: str | None = Field(description="URL of the next (older) page, or null on the last.")

    @classmethod
    def of(cls, page: InviteePage) -> InvitedUsersPage:
        return cls(items=_items(page), next=page.next_url)


class ProfileDocument(BaseModel):
    """The caller's referral data, as the profile service stores and serves it."""

    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_users: list[InvitedUser]
    invited_count: int
    invited_users_next: str | None

    @classmethod
    def of(cls, profile: ReferralProfile) -> ProfileDocument:
        return cls(
            user_id=profile.user_id,
            invite_code=profile.invite_code,
            activated_invite_code=profile.activated_invite_code,
            invited_users=_items(profile.first_page),
            invited_count=profile.invited_count,
            invited_users_next=profile.first_page.next_url,
        )


def _items(page: InviteePage) -> list[InvitedUser]:
    return [
        InvitedUser(id=item.id, phone=item.phone, activated_at=item.activated_at)
        for item in page.items
    ]


class ReferralStats(BaseModel):
    """The caller's share link and what it has brought."""

    invite_code: str
    share_url: str = Field(description="Absolute: PUBLIC_BASE_URL, else the request's own origin.")
    visits: int = Field(description="Visits to the share link, at most one per visitor a window.")
    unique_visitors: int
    activations: int = Field(description="Users who activated the code.")
    conversion: float | None = Field(
        description="activations / unique_visitors; null while there are no visitors."
    )

    @classmethod
    def of(cls, funnel: Funnel) -> ReferralStats:
        return cls(
            invite_code=funnel.invite_code,
            share_url=funnel.share_url,
            visits=funnel.visits,
            unique_visitors=funnel.unique_visitors,
            activations=funnel.activations,
            conversion=funnel.conversion,
        )


MAX_MEMBER_IDS = 200
UserId = Annotated[int, Field(ge=1, le=2**63 - 1, description="A user id (auth's).")]


class MembersRequest(BaseModel):
    ids: list[UserId] = Field(max_length=MAX_MEMBER_IDS)


class MemberItem(BaseModel):
    user_id: int
    invite_code: str
    activated_invite_code: str | None
    invited_count: int

    @classmethod
    def of(cls, member: admin.MemberSummary) -> MemberItem:
        return cls(
            user_id=member.user_id,
            invite_code=member.invite_code,
            activated_invite_code=member.activated_invite_code,
            invited_count=member.invited_count,
        )


class MembersResponse(BaseModel):
    items: list[MemberItem] = Field(description="Only the users the service has seen, by id.")


class ChainLink(BaseModel):
    id: int
    phone: str
    invite_code: str


class MemberCard(MemberItem):
    inviter_chain: list[ChainLink] = Field(
        description="The direct inviter first, up to the root; at most 50."
    )
    invitees: list[InvitedUser] = Field(description="The first page, newest first.")
    invitees_next: str | None = Field(
        description="The cursor of the next page of GET /referral_system/api_invited_users/."
    )

    @classmethod
    def of_card(cls, card: admin.MemberCard) -> MemberCard:
        return cls(
            **MemberItem.of(card.member).model_dump(),
            inviter_chain=[
                ChainLink(id=link.id, phone=link.phone, invite_code=link.invite_code)
                for link in card.inviter_chain
            ],
            invitees=[
                InvitedUser(id=item.id, phone=item.phone, activated_at=item.activated_at)
                for item in card.invitees
            ],
            invitees_next=card.invitees_next,
        )


class DayItem(BaseModel):
    date: date
    activations: int
    refused: dict[str, int] = Field(description="Refused activations by the error code answered.")


class InviterItem(BaseModel):
    id: int
    phone: str
    invite_code: str
    invited_count: int


class AdminStats(BaseModel):
    series: list[DayItem] = Field(description="Every UTC day, oldest first, zeros included.")
    top_inviters: list[InviterItem] = Field(description="At most 10, most invitees first.")

    @classmethod
    def of(cls, stats: admin.Stats) -> AdminStats:
        return cls(
            series=[
                DayItem(date=day.date, activations=day.activations, refused=day.refused)
                for day in stats.series
            ],
            top_inviters=[
                InviterItem(
                    id=inviter.id,
                    phone=inviter.phone,
                    invite_code=inviter.invite_code,
                    invited_count=inviter.invited_count,
                )
                for inviter in stats.top_inviters
            ],
        )


class AuditPage(BaseModel):
    # The shape auth reads back (auth_service.referral_admin): one definition for both sides.
    items: list[Event] = Field(description="Newest first (id descending).")
