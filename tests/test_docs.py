"""Every setting a service reads is documented in .env.example and in the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auth_service.config import AuthSettings
from profile_service.config import ProfileSettings
from referral_service.config import ReferralSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = sorted(
    {
        name.upper()
        for settings in (AuthSettings, ReferralSettings, ProfileSettings)
        for name in settings.model_fields
    }
)


def test_there_are_settings_to_check() -> None:
    assert {"OTP_LENGTH", "REFERRAL_DATABASE_URL", "UPSTREAM_TIMEOUT_SECONDS"} <= set(SETTINGS)


@pytest.mark.parametrize("name", SETTINGS)
def test_each_setting_is_in_env_example(name: str) -> None:
    example = (REPO_ROOT / ".env.example").read_text()
    assert re.search(rf"^{name}=", example, re.MULTILINE), name


@pytest.mark.parametrize("name", SETTINGS)
def test_each_setting_is_in_the_readme(name: str) -> None:
    assert f"`{name}`" in (REPO_ROOT / "README.md").read_text(), name
