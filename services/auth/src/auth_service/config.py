"""Auth service settings: environment variables only, read once per process."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from auth_service.phones import normalize_phone
from common.client_ip import parse_networks
from common.settings import DEV_SECRET_PREFIX, WebhookSettings, WebhookWorkerSettings

Network = IPv4Network | IPv6Network


ADMIN_ROLE = "admin"
DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/auth"


class AuthSettings(WebhookSettings):
    auth_database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(10, ge=1, le=100)

    otp_length: int = Field(4, ge=4, le=8)
    otp_ttl_seconds: int = Field(300, ge=1)
    otp_max_attempts: int = Field(3, ge=1)
    # Consecutive wrong codes for a phone from one client IP, then that IP is locked out of it.
    otp_lockout_failures: int = Field(10, ge=1)
    otp_lockout_seconds: int = Field(3600, ge=1)
    # Wrong codes for a phone from every IP within an hour, then the phone is locked for all.
    otp_lockout_failures_per_phone: int = Field(50, ge=1)
    otp_max_verify_failures_per_ip_per_hour: int = Field(60, ge=1)
    otp_resend_cooldown_seconds: int = Field(60, ge=0)
    otp_max_per_phone_per_hour: int = Field(5, ge=1)
    otp_max_per_ip_per_hour: int = Field(30, ge=1)
    otp_hmac_secret: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}otp-hmac-key")

    access_token_ttl_seconds: int = Field(600, ge=30)
    refresh_token_ttl_seconds: int = Field(2_592_000, ge=60)
    # The previous refresh token, presented again this soon after its rotation, is not a reuse.
    refresh_reuse_grace_seconds: int = Field(10, ge=0, le=300)

    # console: the dev inbox only (the log never holds a code); webhook: a signed POST to the
    # operator's SMS gateway.
    sms_backend: Literal["console", "webhook"] = "console"
    sms_webhook_url: AnyHttpUrl | None = None
    # Standard Webhooks secret: `whsec_` and the base64 of at least 24 random bytes.
    sms_webhook_secret: SecretStr | None = None
    sms_webhook_timeout_seconds: float = Field(3.0, gt=0, le=30)
    dev_sms_inbox: bool = False

    # The Ed25519 signing key: the PEM itself, or a file holding it.
    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    # For `make run`/`make stack`: create the key file on first start.
    jwt_generate_key_if_missing: bool = False
    # Public keys published besides the signing key's, e.g. the previous key during a rotation.
    jwt_extra_public_keys_file: Path | None = None

    # Operators: these phones' access tokens carry the `admin` role (comma-separated, any
    # accepted phone format).
    admin_phones: Annotated[tuple[str, ...], NoDecode] = ()
    # Keys the HMAC that turns a client IP into the audit log's `ip_hash`; referral uses the
    # same value, so one address hashes alike in both logs.
    audit_hash_key: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}audit-hash-key")
    # Where the admin API reads referral's members, stats and audit events.
    referral_service_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    upstream_timeout_seconds: float = Field(2.0, gt=0, le=30)

    # Peers whose X-Forwarded-For is believed (the gateway); anyone else's is ignored. None by
    # default: a service reached directly is its own edge. `make stack` and compose name theirs.
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = ()

    @field_validator(
        "jwt_private_key",
        "jwt_private_key_file",
        "jwt_extra_public_keys_file",
        "sms_webhook_url",
        "sms_webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # Compose files and .env templates often pass `NAME=` for "not set".
        return None if value == "" else value

    @field_validator("admin_phones", mode="before")
    @classmethod
    def _parse_phones(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        phones = []
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            phone = normalize_phone(entry)
            if phone is None:
                raise ValueError(f"{entry!r} is not a phone number of 10 digits")
            phones.append(phone)
        return tuple(dict.fromkeys(phones))

    @field_validator("admin_phones")
    @classmethod
    def _phones_are_normalized(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        normalized = tuple(normalize_phone(phone) for phone in value)
        if any(phone is None for phone in normalized):
            raise ValueError("every entry must be a phone number of 10 digits")
        return tuple(dict.fromkeys(phone for phone in normalized if phone))

    def roles_of(self, phone: str) -> tuple[str, ...]:
        """The roles an access token for `phone` carries, from the current setting."""
        return (ADMIN_ROLE,) if phone in self.admin_phones else ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        return parse_networks(value)

    def database_urls(self) -> dict[str, str]:
        return {"auth_database_url": self.auth_database_url}

    def secret_fields(self) -> dict[str, SecretStr | str | None]:
        secrets = super().secret_fields()
        secrets["otp_hmac_secret"] = self.otp_hmac_secret
        secrets["audit_hash_key"] = self.audit_hash_key
        if self.sms_backend == "webhook":
            secrets["sms_webhook_secret"] = self.sms_webhook_secret
        return secrets

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.dev_sms_inbox:
            problems.append("DEV_SMS_INBOX=true lets anyone read any phone's sign-in code")
        if self.sms_backend == "console":
            problems.append("SMS_BACKEND=console sends no SMS (codes reach only the dev inbox)")
        if self.jwt_generate_key_if_missing:
            problems.append("JWT_GENERATE_KEY_IF_MISSING=true is for local runs only")
        if self.jwt_private_key is None and self.jwt_private_key_file is None:
            problems.append("JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must name the signing key")
        return problems

    @model_validator(mode="after")
    def _webhook_needs_its_address_and_secret(self) -> AuthSettings:
        if self.sms_backend == "webhook" and (
            self.sms_webhook_url is None or self.sms_webhook_secret is None
        ):
            raise ValueError("SMS_BACKEND=webhook needs SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET")
        return self


class AuthWebhookWorkerSettings(WebhookWorkerSettings):
    """`python -m auth_service.webhook_worker`: the database and the webhook settings only."""

    auth_database_url: str = DEFAULT_DATABASE_URL

    def database_urls(self) -> dict[str, str]:
        return {"auth_database_url": self.auth_database_url}
