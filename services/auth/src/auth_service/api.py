"""HTTP routes: parse, call the service, shape the answer and the cookies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import JSONResponse

from auth_service import service
from auth_service.config import AuthSettings
from auth_service.deps import STATE_CHANGE, AuthDep, ClientAddress, CurrentPrincipal, state_of
from auth_service.schemas import (
    DevSmsResponse,
    LoginResponse,
    LogoutRequest,
    NumberInputRequest,
    NumberInputResponse,
    OtpInputRequest,
    RefreshRequest,
    SessionsPage,
    TokenResponse,
)
from auth_service.service import Grant
from common.errors import VALIDATION_CODE, NotAuthenticated, openapi_errors
from common.tokens import ACCESS_COOKIE, access_token_from

AUTH_PATH = "/authentication/"
LOGIN_COOKIE = "login_id"
REFRESH_COOKIE = "refresh_token"
NO_STORE = {"Cache-Control": "no-store"}
# Every cookie this service sets, with its path: logout clears them all.
_TOKEN_COOKIES = ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, AUTH_PATH), (LOGIN_COOKIE, AUTH_PATH))
JWKS_MAX_AGE_SECONDS = 300

router = APIRouter(prefix="/authentication", tags=["authentication"])
dev_router = APIRouter(prefix="/authentication", tags=["development"])


def _set_cookie(
    response: Response, settings: AuthSettings, name: str, value: str, *, path: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def _clear_cookie(response: Response, settings: AuthSettings, name: str, *, path: str) -> None:
    response.delete_cookie(
        name, path=path, secure=settings.cookie_secure, httponly=True, samesite="lax"
    )


def _set_tokens(response: Response, settings: AuthSettings, grant: Grant) -> None:
    response.headers.update(NO_STORE)
    _set_cookie(
        response,
        settings,
        ACCESS_COOKIE,
        grant.access.token,
        path="/",
        max_age=settings.access_token_ttl_seconds,
    )
    _set_cookie(
        response,
        settings,
        REFRESH_COOKIE,
        grant.refresh.token,
        path=AUTH_PATH,
        max_age=settings.refresh_token_ttl_seconds,
    )


@router.post(
    "/api_number_input/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: "invalid_phone"},
    responses=openapi_errors(403, 415, 422, 429, 503),
    summary="Send a one-time code to a phone",
)
async def number_input(
    body: NumberInputRequest, response: Response, ctx: AuthDep, client: ClientAddress
) -> NumberInputResponse:
    pending = await service.start_login(ctx, phone=body.phone, client=client)
    response.headers.update(NO_STORE)
    _set_cookie(
        response,
        ctx.settings,
        LOGIN_COOKIE,
        pending.login_id,
        path=AUTH_PATH,
        max_age=pending.expires_in,
    )
    return NumberInputResponse.of(pending)


@router.post(
    "/api_otp_input/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: "invalid_otp_format"},
    responses=openapi_errors(
        400,
        403,
        410,
        415,
        422,
        429,
        descriptions={
            403: "`user_banned` (a correct code of a banned user; `banned_until`: its end or "
            "null) or `csrf_rejected`"
        },
    ),
    summary="Sign in with the code; registers the phone on its first sign-in",
)
async def otp_input(
    request: Request,
    body: OtpInputRequest,
    response: Response,
    ctx: AuthDep,
    client: ClientAddress,
    login_id_cookie: Annotated[str | None, Cookie(alias=LOGIN_COOKIE)] = None,
) -> LoginResponse:
    grant = await service.complete_login(
        ctx,
        code=body.otp,
        login_id=body.login_id,
        phone=body.phone,
        cookie_login_id=login_id_cookie,
        client=client,
        user_agent=request.headers.get("user-agent", ""),
    )
    _set_tokens(response, ctx.settings, grant)
    _clear_cookie(response, ctx.settings, LOGIN_COOKIE, path=AUTH_PATH)
    return LoginResponse.of_login(grant, expires_in=ctx.settings.access_token_ttl_seconds)


@router.post(
    "/api_token_refresh/",
    dependencies=STATE_CHANGE,
    openapi_extra={VALIDATION_CODE: "invalid_refresh_token"},
    responses=openapi_errors(401, 403, 415, 422),
    summary="Exchange the refresh token for new tokens (the old one is retired)",
)
async def token_refresh(
    response: Response,
    ctx: AuthDep,
    client: ClientAddress,
    body: RefreshRequest | None = None,
    refresh_cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> TokenResponse:
    token = (body.refresh_token if body else None) or refresh_cookie
    grant = await service.refresh_tokens(ctx, refresh_token=token, client=client)
    _set_tokens(response, ctx.settings, grant)
    return TokenResponse.of(grant, expires_in=ctx.settings.access_token_ttl_seconds)


@router.post(
    "/api_logout/",
    status_code=204,
    dependencies=STATE_CHANGE,
    responses=openapi_errors(403, 415, 422),
    summary="Revoke the login (refresh family) and the access token; clear the cookies",
)
async def logout(
    request: Request,
    response: Response,
    ctx: AuthDep,
    client: ClientAddress,
    body: LogoutRequest | None = None,
    refresh_cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
) -> None:
    try:
        access_token: str | None = access_token_from(request)
    except NotAuthenticated:
        access_token = None
    await service.logout(
        ctx,
        access_token=access_token,
        refresh_token=(body.refresh_token if body else None) or refresh_cookie,
        client=client,
    )
    _clear_token_cookies(response, ctx.settings)


@router.get(
    "/api_sessions/",
    responses=openapi_errors(401, 503),
    summary="The caller's live sessions (sign-ins on devices), newest first, the current marked",
)
async def sessions(principal: CurrentPrincipal, ctx: AuthDep, response: Response) -> SessionsPage:
    response.headers.update(NO_STORE)
    listed = await ctx.sessions.of_user(principal.user_id)
    return SessionsPage.of(listed, current=principal.session_id)


@router.delete(
    "/api_sessions/{session_id}/",
    status_code=204,
    dependencies=STATE_CHANGE,
    responses=openapi_errors(401, 403, 404, 503),
    summary="End one of the caller's sessions: its tokens stop working everywhere at once",
)
async def end_session(
    session_id: str,
    principal: CurrentPrincipal,
    ctx: AuthDep,
    response: Response,
    client: ClientAddress,
) -> None:
    await service.end_session(ctx, principal=principal, session_id=session_id, client=client)
    if session_id == principal.session_id:
        _clear_token_cookies(response, ctx.settings)


@router.post(
    "/api_logout_all/",
    status_code=204,
    dependencies=STATE_CHANGE,
    responses=openapi_errors(401, 403, 415, 503),
    summary="End every session of the caller, this one included; clear the cookies",
)
async def logout_all(
    principal: CurrentPrincipal, ctx: AuthDep, response: Response, client: ClientAddress
) -> None:
    await service.end_all_sessions(ctx, principal=principal, client=client)
    _clear_token_cookies(response, ctx.settings)


def _clear_token_cookies(response: Response, settings: AuthSettings) -> None:
    for name, path in _TOKEN_COOKIES:
        _clear_cookie(response, settings, name, path=path)


@router.get("/.well-known/jwks.json", summary="The public keys that verify access tokens")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(
        state_of(request.app).public_jwks,
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )


@dev_router.get(
    "/api_dev_sms/",
    openapi_extra={VALIDATION_CODE: "invalid_phone"},
    responses=openapi_errors(404, 422),
    summary="The latest simulated SMS of a phone (DEV_SMS_INBOX=true only)",
)
async def dev_sms(
    ctx: AuthDep, response: Response, phone: Annotated[str, Query()]
) -> DevSmsResponse:
    sms = await service.latest_sms(ctx, phone=phone)
    response.headers.update(NO_STORE)
    return DevSmsResponse.of(sms)
