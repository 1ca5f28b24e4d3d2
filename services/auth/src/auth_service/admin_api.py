"""The operator console's API under `/admin/api/`: operators only, every call audited.

Every call of a verified caller leaves an `admin.request` event (actor, method, path, status),
a refused one (403) included; a ban, an unban or an unlock leaves its own event instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth_service import admin
from auth_service.admin_schemas import AuditPage, BanRequest, Stats, UserCard, UserItem, UsersPage
from auth_service.audit import ADMIN_REQUEST, Entry
from auth_service.deps import (
    STATE_CHANGE,
    AdminCaller,
    AuthDep,
    ClientAddress,
    ReferralDep,
    client_address_of,
    state_of,
)
from common.errors import VALIDATION_CODE, AppError, is_store_outage, openapi_errors
from common.tokens import Principal, access_token_from

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}
MAX_USER_ID = admin.MAX_USER_ID


def _status_of(exc: Exception) -> int:
    if isinstance(exc, AppError):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    return 503 if is_store_outage(exc) else 500


def _audited_by_route(request: Request) -> None:
    """Tell the audit that this call wrote its own event (a ban, an unban, an unlock)."""
    request.state.audited = True


async def _record(request: Request, status: int) -> None:
    caller: Principal | None = getattr(request.state, "caller", None)
    if caller is None or getattr(request.state, "audited", False):
        return  # no verified caller (401), or the route's own event stands for the call
    await state_of(request.app).context.audit.write(
        Entry(
            ADMIN_REQUEST,
            actor_id=caller.user_id,
            subject_id=getattr(request.state, "subject_id", None),
            detail={"method": request.method, "path": request.url.path, "status": status},
        ),
        ip=client_address_of(request),
    )


class AuditedRoute(APIRoute):
    """A route whose every call by a verified caller is written to the audit log."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                try:
                    await _record(request, _status_of(exc))
                except Exception:
                    logger.exception("the audit of a failed admin call could not be written")
                raise
            await _record(request, response.status_code)
            response.headers.update(NO_STORE)
            return response

        return audited


router = APIRouter(prefix="/admin/api", tags=["admin"], route_class=AuditedRoute)


def _token(request: Request) -> str:
    return access_token_from(request)


@router.get(
    "/users/",
    openapi_extra={VALIDATION_CODE: "invalid_query"},
    responses=openapi_errors(400, 401, 403, 422, 503),
    summary="Find users: every one newest first, or by phone prefix and id",
)
async def users(
    request: Request,
    _: AdminCaller,
    ctx: AuthDep,
    referral: ReferralDep,
    q: Annotated[
        str | None,
        Query(max_length=admin.MAX_QUERY_LENGTH, description="Phone digits (a prefix) or an id."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=admin.MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> UsersPage:
    return await admin.search_users(
        ctx, referral, q=q, cursor=cursor, limit=limit, token=_token(request)
    )


@router.get(
    "/users/{user_id}/",
    responses=openapi_errors(401, 403, 404, 503),
    summary="A user's card: referral tree, sessions, ban and lockout",
)
async def user(
    request: Request, user_id: str, _: AdminCaller, ctx: AuthDep, referral: ReferralDep
) -> UserCard:
    request.state.subject_id = admin.parse_user_id(user_id)
    return await admin.user_card(ctx, referral, user_id=user_id, token=_token(request))


@router.post(
    "/users/{user_id}/ban/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: "invalid_ban"},
    responses=openapi_errors(401, 403, 404, 409, 415, 422, 503),
    summary="Ban a user: every session ends at once and sign-in answers 403 user_banned",
)
async def ban(
    request: Request,
    user_id: str,
    body: BanRequest,
    caller: AdminCaller,
    ctx: AuthDep,
    referral: ReferralDep,
    client: ClientAddress,
) -> UserItem:
    request.state.subject_id = admin.parse_user_id(user_id)
    item = await admin.ban_user(
        ctx,
        referral,
        user_id=user_id,
        admin_id=caller.user_id,
        reason=body.reason,
        until=body.until,
        client=client,
        token=_token(request),
    )
    _audited_by_route(request)
    return item


@router.delete(
    "/users/{user_id}/ban/",
    status_code=204,
    dependencies=STATE_CHANGE,
    responses=openapi_errors(401, 403, 404, 415),
    summary="Lift a user's ban (204 also when there was none)",
)
async def unban(
    request: Request, user_id: str, caller: AdminCaller, ctx: AuthDep, client: ClientAddress
) -> None:
    request.state.subject_id = admin.parse_user_id(user_id)
    await admin.unban_user(ctx, user_id=user_id, admin_id=caller.user_id, client=client)
    _audited_by_route(request)


@router.post(
    "/phones/{phone}/unlock/",
    status_code=204,
    dependencies=STATE_CHANGE,
    responses=openapi_errors(401, 403, 415, 422),
    summary="Clear a phone's sign-in lockouts, failure counters and send caps",
)
async def unlock(
    request: Request, phone: str, caller: AdminCaller, ctx: AuthDep, client: ClientAddress
) -> None:
    await admin.unlock_phone(ctx, phone=phone, admin_id=caller.user_id, client=client)
    _audited_by_route(request)


@router.get(
    "/stats/",
    openapi_extra={VALIDATION_CODE: "invalid_days"},
    responses=openapi_errors(401, 403, 422, 503),
    summary="Daily sign-ins, new users, codes sent, lockouts and activations; top inviters",
)
async def stats(
    request: Request,
    _: AdminCaller,
    ctx: AuthDep,
    referral: ReferralDep,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> Stats:
    return await admin.stats(ctx, referral, days=days, token=_token(request))


@router.get(
    "/audit/",
    openapi_extra={VALIDATION_CODE: "invalid_query"},
    responses=openapi_errors(400, 401, 403, 422, 503),
    summary="Auth's and referral's audit events merged, newest first",
)
async def audit_log(
    request: Request,
    _: AdminCaller,
    ctx: AuthDep,
    referral: ReferralDep,
    type: Annotated[str | None, Query(max_length=40)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_USER_ID)] = None,
    cursor: Annotated[str | None, Query(max_length=admin.MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    return await admin.audit_page(
        ctx,
        referral,
        type=type or None,
        user_id=user_id,
        cursor=cursor,
        limit=limit,
        token=_token(request),
    )
