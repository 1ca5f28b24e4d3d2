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


def production(**values: object) -> AuthSettings:
    defaults: dict[str, object] = {
        "app_env": "production",
        "otp_hmac_secret": "a-real-secret-from-the-vault",
        "jwt_private_key_file": REAL_KEY_FILE,
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


def test_production_accepts_real_secrets() -> None:
    assert production().is_production


def test_production_refuses_the_default_otp_secret() -> None:
    with pytest.raises(ValidationError, match="OTP_HMAC_SECRET"):
        production(otp_hmac_secret=AuthSettings().otp_hmac_secret.get_secret_value())


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


def test_trusted_proxies_default_to_loopback() -> None:
    assert AuthSettings().trusted_proxies == (ip_network("127.0.0.1/32"), ip_network("::1/128"))


def test_a_malformed_proxy_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "not-an-ip")
    with pytest.raises(ValidationError):
        AuthSettings()
