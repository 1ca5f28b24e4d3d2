"""WEBHOOK_* settings: off unless WEBHOOK_URL is set, a Standard Webhooks secret required with
it, and production's refusal of a weak one (as for SMS_WEBHOOK_SECRET)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings, AuthWebhookWorkerSettings
from referral_service.config import ReferralSettings
from testkit.webhook_receiver import new_secret

REAL_SECRET = "pU3nL8x2QvRr7kZt1mWc9yBa4dFh6gJs"  # 32 bytes


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for settings in (AuthSettings, AuthWebhookWorkerSettings, ReferralSettings):
        for name in settings.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)


def production(**values: object) -> AuthSettings:
    defaults: dict[str, object] = {
        "app_env": "production",
        "otp_hmac_secret": REAL_SECRET,
        "audit_hash_key": REAL_SECRET,
        "jwt_private_key_file": Path("/run/secrets/jwt.pem"),
        "sms_backend": "webhook",
        "sms_webhook_url": "https://sms.example/hook",
        "sms_webhook_secret": "whsec_" + "A" * 40,
    }
    return AuthSettings(**{**defaults, **values})


def test_webhooks_are_off_by_default_and_when_given_empty_values() -> None:
    assert not AuthSettings().webhooks_enabled
    settings = AuthSettings(webhook_url="", webhook_secret="")
    assert not settings.webhooks_enabled
    assert settings.webhook_delivery == "in_process"
    assert settings.webhook_max_age_seconds == 86_400
    assert not ReferralSettings().webhooks_enabled


def test_a_url_needs_a_standard_webhooks_secret() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        AuthSettings(webhook_url="https://hooks.example/in")
    for bad in ("plain-secret", "whsec_", "whsec_!!!"):
        with pytest.raises(ValidationError, match="whsec_"):
            AuthSettings(webhook_url="https://hooks.example/in", webhook_secret=bad)
    settings = ReferralSettings(webhook_url="https://hooks.example/in", webhook_secret=new_secret())
    assert settings.webhooks_enabled


def test_only_in_process_or_worker_delivery() -> None:
    with pytest.raises(ValidationError):
        AuthSettings(webhook_delivery="cron")


def test_production_refuses_a_weak_webhook_secret_only_when_webhooks_are_on() -> None:
    production()  # no WEBHOOK_URL: no secret needed
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET must be at least 32 bytes"):
        production(webhook_url="https://hooks.example/in", webhook_secret="whsec_QUJD")
    production(webhook_url="https://hooks.example/in", webhook_secret=new_secret())


def test_the_worker_reads_the_database_and_the_webhook_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql+psycopg2://auth@db/auth")
    monkeypatch.setenv("WEBHOOK_URL", "https://hooks.example/in")
    monkeypatch.setenv("WEBHOOK_SECRET", new_secret())
    monkeypatch.setenv("WEBHOOK_WORKER_PORT", "9100")

    settings = AuthWebhookWorkerSettings()

    assert settings.auth_database_url == "postgresql+psycopg2://auth@db/auth"
    assert settings.webhook_worker_port == 9100
    assert settings.webhooks_enabled
