import os
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings

REAL_KEY_FILE = Path("/run/secrets/jwt.pem")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AuthSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


REAL_SECRET = "pU3nL8x2QvRr7kZt1mWc9yBa4dFh6gJs"  # 32 bytes


def production(**values: object) -> AuthSettings:
    defaults: dict[str, object] = {
        "app_env": "production",
        "otp_hmac_secret": REAL_SECRET,
        "audit_hash_key": REAL_SECRET[::-1],
        "jwt_private_key_file": REAL_KEY_FILE,
        "sms_backend": "webhook",
        "sms_webhook_url": "https://sms.example/hook",
        "sms_webhook_secret": "whsec_" + "A" * 40,
    }
    return AuthSettings(**{**defaults, **values})


def test_defaults_follow_the_contract() -> None:
    settings = AuthSettings()
    assert (settings.otp_length, settings.otp_ttl_seconds, settings.otp_max_attempts) == (4, 300, 3)
    assert (settings.otp_lockout_failures, settings.otp_lockout_seconds) == (10, 3600)
    assert settings.otp_resend_cooldown_seconds == 60
    assert (settings.otp_max_per_phone_per_hour, settings.otp_max_per_ip_per_hour) == (5, 30)
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds) == (
        600,
        2_592_000,
    )
    assert settings.sms_backend == "console" and settings.dev_sms_inbox is False
    assert settings.cookie_secure is True
    assert settings.refresh_reuse_grace_seconds == 10
    assert settings.otp_lockout_failures_per_phone == 50
    assert settings.otp_max_verify_failures_per_ip_per_hour == 60
    # A service reached directly is its own edge: no X-Forwarded-For is believed by default.
    assert settings.trusted_proxies == ()


def test_production_accepts_real_secrets() -> None:
    assert production().is_production


def test_production_refuses_the_default_otp_secret() -> None:
    with pytest.raises(ValidationError, match="OTP_HMAC_SECRET"):
        production(otp_hmac_secret=AuthSettings().otp_hmac_secret.get_secret_value())


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"dev_sms_inbox": True}, "DEV_SMS_INBOX"),
        ({"cookie_secure": False}, "COOKIE_SECURE"),
        ({"sms_backend": "console"}, "SMS_BACKEND"),
        ({"otp_hmac_secret": "x"}, "OTP_HMAC_SECRET"),
        ({"otp_hmac_secret": REAL_SECRET[:31]}, "OTP_HMAC_SECRET"),
        ({"otp_hmac_secret": "dev-insecure-" + "x" * 40}, "OTP_HMAC_SECRET"),
        ({"sms_webhook_secret": "whsec_short"}, "SMS_WEBHOOK_SECRET"),
        ({"jwt_generate_key_if_missing": True}, "JWT_GENERATE_KEY_IF_MISSING"),
    ],
)
def test_production_refuses_what_is_only_for_development(
    values: dict[str, object], variable: str
) -> None:
    with pytest.raises(ValidationError, match=variable):
        production(**values)


def test_development_accepts_the_development_values() -> None:
    settings = AuthSettings(
        dev_sms_inbox=True,
        cookie_secure=False,
        otp_hmac_secret="x",
        jwt_generate_key_if_missing=True,
    )
    assert not settings.is_production


def test_the_webhook_backend_needs_its_url_and_secret() -> None:
    with pytest.raises(ValidationError, match="SMS_WEBHOOK_URL"):
        AuthSettings(sms_backend="webhook")
    with pytest.raises(ValidationError, match="SMS_WEBHOOK_URL"):
        AuthSettings(sms_backend="webhook", sms_webhook_url="https://sms.example/hook")


def test_production_refuses_to_run_without_a_signing_key() -> None:
    with pytest.raises(ValidationError, match="JWT_PRIVATE_KEY"):
        production(jwt_private_key_file=None)


def test_production_refuses_key_generation() -> None:
    with pytest.raises(ValidationError, match="JWT_GENERATE_KEY_IF_MISSING"):
        production(jwt_generate_key_if_missing=True)


@pytest.mark.parametrize("length", [3, 9])
def test_otp_length_is_between_4_and_8(length: int) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(otp_length=length)


def test_an_unknown_sms_backend_is_refused() -> None:
    with pytest.raises(ValidationError):
        AuthSettings(sms_backend="carrier-pigeon")


def test_names_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTP_LENGTH", "6")
    monkeypatch.setenv("OTP_MAX_PER_IP_PER_HOUR", "7")
    monkeypatch.setenv("DEV_SMS_INBOX", "true")
    monkeypatch.setenv("AUTH_DATABASE_URL", "sqlite:///x.db")
    settings = AuthSettings()
    assert (settings.otp_length, settings.otp_max_per_ip_per_hour) == (6, 7)
    assert settings.dev_sms_inbox is True
    assert settings.auth_database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    "value", ['["10.0.0.0/8", "192.168.1.1"]', "10.0.0.0/8, 192.168.1.1", "10.0.0.0/8,192.168.1.1"]
)
def test_trusted_proxies_as_json_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", value)
    assert AuthSettings().trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.168.1.1/32"),
    )


def test_empty_key_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "JWT_EXTRA_PUBLIC_KEYS_FILE"):
        monkeypatch.setenv(name, "")
    settings = AuthSettings()
    assert settings.jwt_private_key is None and settings.jwt_private_key_file is None
    assert settings.jwt_extra_public_keys_file is None
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("OTP_HMAC_SECRET", "a-real-secret")
    with pytest.raises(ValidationError, match="JWT_PRIVATE_KEY"):
        AuthSettings()


def test_a_malformed_proxy_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "not-an-ip")
    with pytest.raises(ValidationError):
        AuthSettings()


def test_a_refused_configuration_is_one_line_per_variable_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DEV_SMS_INBOX": "true",
        "OTP_HMAC_SECRET": "x",
        "AUDIT_HASH_KEY": REAL_SECRET,
        "JWT_PRIVATE_KEY_FILE": str(REAL_KEY_FILE),
        "SMS_BACKEND": "console",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from auth_service.main import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 3
    for line, variable in zip(
        lines, ("OTP_HMAC_SECRET", "DEV_SMS_INBOX", "SMS_BACKEND"), strict=True
    ):
        assert line.startswith("configuration refused: ") and variable in line


def test_admin_phones_are_normalised_from_any_accepted_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert AuthSettings().admin_phones == ()
    monkeypatch.setenv("ADMIN_PHONES", "+7 (999) 123-45-67, 89990000001,,9991234567 ")
    settings = AuthSettings()
    assert settings.admin_phones == ("9991234567", "9990000001")
    assert settings.roles_of("9990000001") == ("admin",)
    assert settings.roles_of("9990000002") == ()


def test_an_invalid_admin_phone_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PHONES", "9991234567,12345")
    with pytest.raises(ValidationError, match="12345"):
        AuthSettings()
    with pytest.raises(ValidationError, match=r"ADMIN_PHONES|admin_phones"):
        AuthSettings(admin_phones=("123",))


def test_the_admin_api_settings_have_their_defaults() -> None:
    settings = AuthSettings()
    assert str(settings.referral_service_url).rstrip("/") == "http://127.0.0.1:8002"
    assert settings.upstream_timeout_seconds == 2.0
    assert settings.audit_hash_key.get_secret_value() == "dev-insecure-audit-hash-key"


def test_production_refuses_the_default_audit_hash_key() -> None:
    with pytest.raises(ValidationError, match="AUDIT_HASH_KEY"):
        production(audit_hash_key=AuthSettings().audit_hash_key.get_secret_value())
