"""One error shape for every service: {"detail": ..., "code": ...} plus named extras."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger(__name__)

# A route names the code its body-validation failures get, e.g.
# @router.post(..., openapi_extra={VALIDATION_CODE: "invalid_phone"}).
VALIDATION_CODE = "x-validation-error-code"


class AppError(Exception):
    """A failure the client can act on; rendered by the handler below."""

    status_code: int = 400
    code: str = "bad_request"
    detail: str = "Bad request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    detail = "Authentication credentials were not provided or are invalid."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    detail = "Too many requests. Try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    detail = "Send the body as application/json."


class CsrfRejected(AppError):
    status_code = 403
    code = "csrf_rejected"
    detail = "Cross-site request refused."


class Forbidden(AppError):
    """A verified caller without the role the route needs."""

    status_code = 403
    code = "forbidden"
    detail = "You are not allowed to do this."


class ErrorBody(BaseModel):
    """Every error answer; some codes add fields (e.g. retry_after, attempts_left, errors)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    code: str


def openapi_errors(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` for its OpenAPI: each status answered with an ErrorBody.

    `descriptions` replaces the status's reason phrase, e.g. with the codes it carries.
    """
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody} for status in statuses
    }
    for status, description in (descriptions or {}).items():
        responses.setdefault(status, {"model": ErrorBody})["description"] = description
    return responses


def error_response(
    status_code: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "code": code, **extra}, status_code=status_code, headers=headers
    )


# A store that does not answer is an outage, not a bug: 503 and a hint to retry, not a 500.
STORE_OUTAGES: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    # asyncpg's connect() and its socket reads; a statement on a connection found closed.
    ConnectionError,
    TimeoutError,
    asyncpg.InterfaceError,
    # A connection that a cancelled statement left mid-protocol while the server went away.
    asyncpg.InternalClientError,
)
# SQLSTATE classes of a database that cannot serve right now: connection exceptions (08),
# insufficient resources (53), operator intervention (57: shutting down, starting up, a query
# cancelled by statement_timeout), and a database that does not exist (3D).
_OUTAGE_SQLSTATES = ("08", "53", "57", "3D")


def is_store_outage(exc: BaseException) -> bool:
    if isinstance(exc, STORE_OUTAGES):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        # A hot path's statement, run on asyncpg itself (common.db.query.Query).
        return str(exc.sqlstate or "").startswith(_OUTAGE_SQLSTATES)
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return str(sqlstate or "").startswith(_OUTAGE_SQLSTATES)
    return False


STORE_RETRY_AFTER_SECONDS = 5

# What Starlette/FastAPI say when a body cannot even be decoded (e.g. not UTF-8).
_UNPARSEABLE_BODY = "There was an error parsing the body"

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _json_safe(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors trimmed to what a client needs; inputs are not echoed back."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in errors
    ]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _json_safe(list(exc.errors()))
    if any(err["type"] == "json_invalid" for err in errors):
        return error_response(422, "invalid_json", "The body is not valid JSON.", errors=errors)
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    code = extra.get(VALIDATION_CODE, "validation_error")
    detail = errors[0]["msg"] if errors else "The request is not valid."
    return error_response(422, code, detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
        return error_response(422, "invalid_json", "The body is not valid JSON.")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, code, detail, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route of the path takes: Starlette's 405 names only the first route's,
    and a path may have one route per method (POST and DELETE of a ban)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _store_outage(request: Request, exc: Exception) -> JSONResponse:
    logger.warning(
        "a backing store is unavailable",
        extra={"path": request.url.path, "error": type(exc).__name__},
    )
    return error_response(
        503,
        "service_unavailable",
        "The service cannot reach its storage. Try again shortly.",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_store_outage(exc):
        return await _store_outage(request, exc)
    return await _unhandled(request, exc)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # A bug: logged with its traceback, answered in the contract's shape, never hidden as a 4xx.
    logger.exception("unhandled error", extra={"path": request.url.path})
    return error_response(500, "internal_error", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for outage in STORE_OUTAGES:
        app.add_exception_handler(outage, _store_outage)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(Exception, _unhandled)
