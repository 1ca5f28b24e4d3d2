"""Browser-safety rules for state changes: JSON bodies only, and no cookie-borne cross-site call."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import Depends, Request, params

from common.errors import CsrfRejected, UnsupportedMediaType


def uses_cookie_auth(request: Request) -> bool:
    return "authorization" not in request.headers and bool(request.cookies)


def check_same_origin(request: Request, allowed_origins: list[str]) -> None:
    """Refuse a cookie-authenticated state change that a page from another site could forge.

    The request's own origin is its Host header: the gateway passes the client's Host on, and
    an `X-Forwarded-Host` is never consulted, since a client can send one of its own.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or not uses_cookie_auth(request):
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # Not a browser-initiated cross-site request: browsers send Origin on POST.
    parts = urlsplit(origin)
    origin_root = f"{parts.scheme}://{parts.netloc}"
    if parts.netloc != request.headers.get("host", "") and origin_root not in allowed_origins:
        raise CsrfRejected()


async def require_json(request: Request) -> None:
    """State changes take JSON only: HTML forms cannot send it cross-site without a preflight."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    content_type = request.headers.get("content-type", "")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in (
        request.headers
    )
    if has_body and content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()


def state_change_guard(allowed_origins: Callable[[Request], list[str]]) -> list[params.Depends]:
    """A state-changing route's dependencies: JSON bodies only, no cookie-borne cross-site call.

    `allowed_origins` gives the app's ALLOWED_ORIGINS for a request.
    """

    async def same_origin(request: Request) -> None:
        check_same_origin(request, allowed_origins(request))

    return [Depends(require_json), Depends(same_origin)]
