"""HTTP routes: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from common.errors import VALIDATION_CODE, openapi_errors
from referral_service import export, service
from referral_service.deps import STATE_CHANGE, ActivatingPrincipal, CurrentPrincipal, StateDep
from referral_service.schemas import (
    ActivationRequest,
    ActivationResponse,
    InvitedUsersPage,
    ProfileDocument,
)

LimitQuery = Annotated[
    int | None,
    Query(description="Page size, 1 to INVITED_USERS_PAGE_SIZE (the default, 100)."),
]
CursorQuery = Annotated[str | None, Query(description="The opaque cursor from `next`.")]


public_router = APIRouter(prefix="/referral_system", tags=["referral"])
internal_router = APIRouter(prefix="/internal/referral", tags=["internal"])


@public_router.post(
    "/api_invite_code_activation/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: "invalid_invite_code_format"},
    responses=openapi_errors(401, 403, 404, 409, 415, 422, 429, 503),
)
async def activate_invite_code(
    body: ActivationRequest, principal: ActivatingPrincipal, state: StateDep
) -> ActivationResponse:
    """Activate someone else's invite code: a user does this once, ever."""
    activation = await service.activate_invite_code(
        state.engine,
        state.redis,
        state.activation_failures,
        user_id=principal.user_id,
        phone=principal.phone,
        invite_code=body.invite_code,
    )
    return ActivationResponse.of(activation)


@public_router.get(
    "/api_invited_users/",
    openapi_extra={VALIDATION_CODE: "invalid_limit"},
    responses=openapi_errors(401, 422, 503),
)
async def invited_users(
    principal: CurrentPrincipal,
    state: StateDep,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> InvitedUsersPage:
    """The users who activated the caller's code, newest first, one page at a time."""
    size = service.page_limit(limit, maximum=state.settings.invited_users_page_size)
    page = await service.invited_users(
        state.engine, inviter_id=principal.user_id, limit=size, cursor=cursor
    )
    return InvitedUsersPage.of(page)


@public_router.get(
    "/api_invited_users.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {export.CSV_MEDIA_TYPE: {}}, "description": "`id,phone,activated_at`"},
        **openapi_errors(401, 503),
    },
)
async def invited_users_csv(principal: CurrentPrincipal, state: StateDep) -> StreamingResponse:
    """Every user who activated the caller's code, newest first, as a CSV download."""
    batches = await service.invitee_export(state.engine, inviter_id=principal.user_id)
    return StreamingResponse(
        export.csv_chunks(batches),
        media_type=export.CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{export.CSV_FILENAME}"',
            "Cache-Control": "no-store",
        },
    )


@internal_router.get(
    "/profile",
    response_model=ProfileDocument,
    responses=openapi_errors(401, 503),
)
async def profile(principal: CurrentPrincipal, state: StateDep) -> Response:
    """The caller's referral data, as the profile service stores it; creates a new member."""
    document = await service.profile(
        state.engine,
        user_id=principal.user_id,
        phone=principal.phone,
        limit=state.settings.invited_users_page_size,
    )
    body = ProfileDocument.of(document).model_dump_json()
    return Response(body, media_type="application/json")
