"""The gateway's public rules, written once: which URL (or URL prefix) reaches which service,
which pages it serves, how large a body may be and which headers every answer carries.

The single process (`runmodes.single`) routes by this table. nginx cannot read Python, so
gateway/templates/default.conf.template spells the same rules out, and
gateway/tests/test_rules.py holds every location and header of the template to this table.
Everything not named here, the services' internal, health, metrics and docs URLs among it, is
not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Service = Literal["auth", "referral", "profile"]


@dataclass(frozen=True)
class ApiRoute:
    """One public API URL, matched exactly, and the service that answers it (every method)."""

    path: str
    service: Service
    # Counted towards the gateway's per-address limit on login POSTs. nginx only: the single
    # process leaves logins to the auth service's own caps, as it did before this table.
    login_limited: bool = False


@dataclass(frozen=True)
class PrefixRoute:
    """Every public URL under a prefix (ending in "/") and the service that answers them all.

    The service answers the paths it does not know with 404 itself. nginx forwards the URL as
    the client sent it (still percent-encoded), never its decoded form.
    """

    prefix: str
    service: Service


API_ROUTES = (
    ApiRoute("/authentication/api_number_input/", "auth", login_limited=True),
    ApiRoute("/authentication/api_otp_input/", "auth", login_limited=True),
    ApiRoute("/authentication/api_dev_sms/", "auth"),
    ApiRoute("/authentication/api_token_refresh/", "auth"),
    ApiRoute("/authentication/api_logout/", "auth"),
    ApiRoute("/authentication/api_logout_all/", "auth"),
    ApiRoute("/authentication/.well-known/jwks.json", "auth"),
    ApiRoute("/profile/api_profile/", "profile"),
    ApiRoute("/referral_system/api_invite_code_activation/", "referral"),
    ApiRoute("/referral_system/api_invited_users/", "referral"),
    ApiRoute("/referral_system/api_invited_users.csv", "referral"),
    ApiRoute("/referral_system/api_referral_stats/", "referral"),
)

# The caller's sessions, `/authentication/api_sessions/` and `.../{id}/`; the operators' API,
# `/admin/api/...` (auth answers it, asking referral for referral's part); share links,
# `/i/{code}` and `/i/{code}/qr.svg`. Each prefix without its slash is not found.
PREFIX_ROUTES = (
    PrefixRoute("/authentication/api_sessions/", "auth"),
    PrefixRoute("/admin/api/", "auth"),
    PrefixRoute("/i/", "referral"),
)

# Each page's URL and its file in the frontend folder. The URL without its trailing slash is
# redirected (301) to it; an API URL without its slash is not found.
PAGES = {
    "/": "index.html",
    "/number_input/": "number_input/index.html",
    "/otp_input/": "otp_input/index.html",
    "/profile/": "profile/index.html",
    "/admin/": "admin/index.html",
}
# The frontend's assets: the only files served besides the pages.
STATIC_PREFIX = "/static/"
# Pages and assets are not versioned: browsers revalidate them (ETag) on every use.
PAGE_CACHE_CONTROL = "no-cache"

# Every public request body is a small JSON object.
MAX_BODY_BYTES = 16 * 1024

# Added to every answer, errors included.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def page_redirects() -> dict[str, str]:
    """Each page's URL without its trailing slash, and the page it is redirected to."""
    return {path.rstrip("/"): path for path in PAGES if path != "/"}
