"""HTTP routes: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from common.errors import VALIDATION_CODE, openapi_errors
from referral_service import admin, audit, export, service, share
from referral_service.deps import (
    STATE_CHANGE,
    ActivatingPrincipal,
    ActivationRoute,
    AdminPrincipal,
    BaseUrl,
    ClientAddress,
    CurrentPrincipal,
    RequestOrigin,
    StateDep,
)
from referral_service.errors import INVALID_INVITE_CODE_FORMAT
from referral_service.schemas import (
    ActivationRequest,
    ActivationResponse,
    AdminStats,
    AuditPage,
    InvitedUsersPage,
    MemberCard,
    MemberItem,
    MembersRequest,
    MembersResponse,
    ProfileDocument,
    ReferralStats,
    UserId,
)

LimitQuery = Annotated[
    int | None,
    Query(description="Page size, 1 to INVITED_USERS_PAGE_SIZE (the default, 100)."),
]
CursorQuery = Annotated[str | None, Query(description="The opaque cursor from `next`.")]


public_router = APIRouter(prefix="/referral_system", tags=["referral"])
# The activation alone: its refusals are audited, a malformed body's by the route class.
activation_router = APIRouter(
    prefix="/referral_system", tags=["referral"], route_class=ActivationRoute
)
internal_router = APIRouter(prefix="/internal/referral", tags=["internal"])
share_router = APIRouter(prefix="/i", tags=["share"])
# The operator console's reads, for auth's admin API; every route needs the `admin` role.
admin_router = APIRouter(prefix="/internal/admin", tags=["internal"])

# Each visit is recorded: a redirect must not be stored and replayed by a cache.
NO_STORE = {"Cache-Control": "no-store"}
QR_CACHE_CONTROL = "public, max-age=86400"
SVG_MEDIA_TYPE = "image/svg+xml"


@activation_router.post(
    "/api_invite_code_activation/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: INVALID_INVITE_CODE_FORMAT},
    responses=openapi_errors(401, 403, 404, 409, 415, 422, 429, 503),
)
async def activate_invite_code(
    body: ActivationRequest,
    principal: ActivatingPrincipal,
    state: StateDep,
    origin: RequestOrigin,
) -> ActivationResponse:
    """Activate someone else's invite code: a user does this once, ever."""
    activation = await service.activate_invite_code(
        state.engine,
        state.redis,
        state.activation_failures,
        user_id=principal.user_id,
        phone=principal.phone,
        invite_code=body.invite_code,
        origin=origin,
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


@public_router.get("/api_referral_stats/", responses=openapi_errors(401, 503))
async def referral_stats(
    principal: CurrentPrincipal, state: StateDep, base_url: BaseUrl
) -> ReferralStats:
    """The caller's share link and its funnel: visits, unique visitors, activations."""
    funnel = await share.funnel(
        state.engine, user_id=principal.user_id, phone=principal.phone, base_url=base_url
    )
    return ReferralStats.of(funnel)


@share_router.get(
    "/{code}",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To `/number_input/?invite={code}`, or `/number_input/`."}},
)
async def share_link(
    code: str,
    state: StateDep,
    client: ClientAddress,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> RedirectResponse:
    """A share link: records the visit and leads to the sign-in page with the invite.

    An unknown or malformed code leads to the sign-in page without it and records nothing.
    """
    location = await share.visit(
        state.engine,
        invite_code=code,
        client=client,
        user_agent_header=user_agent,
        key=state.settings.visitor_hash_key.get_secret_value().encode(),
        window_seconds=state.settings.invite_visit_window_seconds,
    )
    return RedirectResponse(location, status_code=302, headers=NO_STORE)


@share_router.get(
    "/",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To `/number_input/`."}},
)
async def share_link_without_code() -> RedirectResponse:
    """A share link cut short before its code: the sign-in page."""
    return RedirectResponse(share.sign_in_url(None), status_code=302, headers=NO_STORE)


@share_router.get(
    "/{code}/qr.svg",
    response_class=Response,
    responses={
        200: {"content": {SVG_MEDIA_TYPE: {}}, "description": "The share URL as a QR code."},
        **openapi_errors(404, 503),
    },
)
async def share_link_qr(code: str, state: StateDep, base_url: BaseUrl) -> Response:
    """The code's share URL as an SVG QR code."""
    svg = await share.qr_svg(state.engine, invite_code=code, base_url=base_url)
    return Response(svg, media_type=SVG_MEDIA_TYPE, headers={"Cache-Control": QR_CACHE_CONTROL})


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


@admin_router.post(
    "/members",
    openapi_extra={VALIDATION_CODE: "invalid_ids"},
    responses=openapi_errors(401, 403, 422, 503),
)
async def admin_members(
    body: MembersRequest, _: AdminPrincipal, state: StateDep
) -> MembersResponse:
    """The referral data of up to 200 users at once; users never seen here are left out."""
    members = await admin.members(state.engine, user_ids=body.ids)
    return MembersResponse(items=[MemberItem.of(member) for member in members])


@admin_router.get(
    "/members/{user_id}",
    openapi_extra={VALIDATION_CODE: "invalid_user_id"},
    responses=openapi_errors(401, 403, 404, 422, 503),
)
async def admin_member(user_id: UserId, _: AdminPrincipal, state: StateDep) -> MemberCard:
    """A member's referral data, its inviters up to the root and its first invitees."""
    card = await admin.member_card(
        state.engine, user_id=user_id, page_size=state.settings.invited_users_page_size
    )
    return MemberCard.of_card(card)


@admin_router.get(
    "/stats",
    openapi_extra={VALIDATION_CODE: "invalid_days"},
    responses=openapi_errors(401, 403, 422, 503),
)
async def admin_stats(
    _: AdminPrincipal,
    state: StateDep,
    days: Annotated[int, Query(ge=1, le=365, description="UTC days, today included.")] = 30,
) -> AdminStats:
    """Activations and refusals by reason of each day, and the top 10 inviters."""
    return AdminStats.of(await admin.stats(state.engine, days=days))


@admin_router.get(
    "/audit",
    openapi_extra={VALIDATION_CODE: "invalid_query"},
    responses=openapi_errors(401, 403, 422, 503),
)
async def admin_audit(
    _: AdminPrincipal,
    state: StateDep,
    type: Annotated[
        str | None, Query(max_length=40, description=f"One of {', '.join(audit.TYPES)}.")
    ] = None,
    user_id: Annotated[UserId | None, Query(description="The actor or the subject.")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only rows older than this one.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """The service's audit rows, newest first."""
    items = await admin.audit_log(
        state.engine, event_type=type, user_id=user_id, before_id=before_id, limit=limit
    )
    return AuditPage(items=items)
