"""HTTP routes: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query

from common.db import EngineDep
from common.errors import VALIDATION_CODE
from common.security import CurrentPrincipal, require_json
from referral_service import service
from referral_service.deps import SettingsDep, member_transaction, same_origin
from referral_service.schemas import (
    ActivationRequest,
    ActivationResponse,
    ErrorBody,
    InvitedUser,
    InvitedUsersPage,
    ReferralOverview,
)

INVITED_USERS_PATH = "/referral_system/api_invited_users/"

LimitQuery = Annotated[
    int | None,
    Query(description="Page size, 1 to INVITED_USERS_PAGE_SIZE (the default, 100)."),
]
CursorQuery = Annotated[str | None, Query(description="The opaque cursor from `next`.")]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, *statuses, 503)}


public_router = APIRouter(prefix="/referral_system", tags=["referral"])
internal_router = APIRouter(prefix="/internal/referral", tags=["internal"])


@public_router.post(
    "/api_invite_code_activation/",
    dependencies=[Depends(require_json), Depends(same_origin)],
    openapi_extra={VALIDATION_CODE: "invalid_invite_code_format"},
    responses=_errors(403, 404, 409, 415, 422),
)
def activate_invite_code(
    body: ActivationRequest, principal: CurrentPrincipal, engine: EngineDep
) -> ActivationResponse:
    """Activate someone else's invite code: a user does this once, ever."""
    with member_transaction(engine, principal) as (session, member):
        activation = service.activate_invite_code(
            session, member=member, invite_code=body.invite_code
        )
    return ActivationResponse(
        activated_invite_code=activation.invite_code, activated_at=activation.activated_at
    )


@public_router.get(
    "/api_invited_users/",
    openapi_extra={VALIDATION_CODE: "invalid_limit"},
    responses=_errors(422),
)
def invited_users(
    principal: CurrentPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> InvitedUsersPage:
    """The users who activated the caller's code, newest first, one page at a time."""
    size = service.page_limit(limit, maximum=settings.invited_users_page_size)
    with member_transaction(engine, principal) as (session, member):
        page = service.invited_users(session, inviter_id=member.user_id, limit=size, cursor=cursor)
    return InvitedUsersPage(items=_items(page), next=_next_url(page, size))


@internal_router.get(
    "/me",
    openapi_extra={VALIDATION_CODE: "invalid_limit"},
    responses=_errors(422),
)
def me(
    principal: CurrentPrincipal, engine: EngineDep, settings: SettingsDep, limit: LimitQuery = None
) -> ReferralOverview:
    """The caller's referral data for the profile service."""
    size = service.page_limit(limit, maximum=settings.invited_users_page_size)
    with member_transaction(engine, principal) as (session, member):
        overview = service.overview(session, member=member, limit=size)
    return ReferralOverview(
        user_id=member.user_id,
        invite_code=member.invite_code,
        activated_invite_code=overview.activated_invite_code,
        invited_users=_items(overview.first_page),
        invited_count=member.invited_count,
        invited_users_next=_next_url(overview.first_page, size),
    )


def _items(page: service.InviteePage) -> list[InvitedUser]:
    return [
        InvitedUser(id=item.id, phone=item.phone, activated_at=item.activated_at)
        for item in page.items
    ]


def _next_url(page: service.InviteePage, limit: int) -> str | None:
    if page.next_cursor is None:
        return None
    return f"{INVITED_USERS_PATH}?{urlencode({'limit': limit, 'cursor': page.next_cursor})}"
