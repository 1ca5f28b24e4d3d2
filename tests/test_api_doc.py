"""docs/API.md names every public URL, error code and setting the code has."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from fastapi import APIRouter

from auth_service.config import AuthSettings
from common.errors import VALIDATION_CODE, AppError
from gateway_config.rules import API_ROUTES, PREFIX_ROUTES
from profile_service.config import ProfileSettings
from referral_service.config import ReferralSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
API_DOC = (REPO_ROOT / "docs" / "API.md").read_text()
TEMPLATE = (REPO_ROOT / "gateway" / "templates" / "default.conf.template").read_text()
# Modules whose AppError subclasses are the services' failures.
ERROR_MODULES = (
    "common.errors",
    "common.middleware",
    "auth_service.errors",
    "referral_service.errors",
    "profile_service.clients",
)
# Settings that place and size the services without changing what the API does.
PLACEMENT = {
    "AUTH_DATABASE_URL",
    "REFERRAL_DATABASE_URL",
    "REDIS_URL",
    "DB_POOL_SIZE",
    "AUTH_SERVICE_URL",
    "REFERRAL_SERVICE_URL",
    "LOG_LEVEL",
    "LOG_JSON",
    # Which process delivers the webhook events; what is delivered is the same.
    "WEBHOOK_DELIVERY",
}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def prefix_urls() -> list[str]:
    """The owning service's routes under each prefix the gateway routes whole (`/i/{code}`)."""
    urls = set()
    for prefix in PREFIX_ROUTES:
        api = importlib.import_module(f"{prefix.service}_service.api")
        routers = [value for value in vars(api).values() if isinstance(value, APIRouter)]
        urls |= {
            path
            for router in routers
            for route in router.routes
            if (path := getattr(route, "path", "")).startswith(prefix.prefix)
        }
    return sorted(urls)


def public_urls() -> list[str]:
    """Every URL the gateway routes to a service (gateway/tests/test_rules.py holds nginx to it)."""
    return sorted(route.path for route in API_ROUTES) + prefix_urls()


def error_codes() -> list[str]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    codes = {cls.code for cls in _subclasses(AppError)}
    common_source = (REPO_ROOT / "libs/common/src/common/errors.py").read_text()
    codes |= set(re.findall(r'error_response\(\s*\d+,\s*"(\w+)"', common_source))
    codes |= set(re.findall(r'\d{3}: "(\w+)"', common_source))
    codes |= set(re.findall(r'\.get\([\w.]+, "(\w+)"\)', common_source))
    for name in ("auth_service.api", "referral_service.api"):
        source = Path(str(importlib.import_module(name).__file__)).read_text()
        codes |= set(re.findall(r'VALIDATION_CODE: "(\w+)"', source))
    codes |= set(re.findall(r'"code":"(\w+)"', TEMPLATE))
    return sorted(codes)


def api_settings() -> list[str]:
    names = {
        name.upper()
        for settings in (AuthSettings, ReferralSettings, ProfileSettings)
        for name in settings.model_fields
    }
    return sorted(names - PLACEMENT)


def test_there_is_something_to_check() -> None:
    assert "/profile/api_profile/" in public_urls()
    assert {"/i/{code}", "/i/{code}/qr.svg"} <= set(prefix_urls())
    assert "/authentication/api_sessions/{session_id}/" in prefix_urls()
    assert {"invalid_otp", "referral_cycle", "upstream_unavailable", "internal_error"} <= set(
        error_codes()
    )
    assert VALIDATION_CODE  # the routes name their validation codes with it
    assert "OTP_LENGTH" in api_settings()


@pytest.mark.parametrize("url", public_urls())
def test_each_public_url_is_documented(url: str) -> None:
    assert re.search(rf"`(GET|POST|DELETE) {re.escape(url)}", API_DOC), url


@pytest.mark.parametrize("code", error_codes())
def test_each_error_code_is_in_the_table(code: str) -> None:
    assert f"| `{code}` |" in API_DOC, code


@pytest.mark.parametrize("name", api_settings())
def test_each_setting_that_shapes_the_api_is_documented(name: str) -> None:
    assert f"`{name}`" in API_DOC, name
