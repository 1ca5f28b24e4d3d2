"""Referral service settings, read once from the environment."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from common.client_ip import Network, parse_networks
from common.settings import (
    DEV_SECRET_PREFIX,
    WebhookSettings,
    WebhookWorkerSettings,
    default_jwks_url,
)

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/referral"


class ReferralSettings(WebhookSettings):
    referral_database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=10, ge=1)
    auth_service_url: str = "http://127.0.0.1:8001"
    # Declared after AUTH_SERVICE_URL: the default is derived from it.
    jwks_url: str = Field(default_factory=default_jwks_url)
    invited_users_page_size: int = Field(default=100, ge=1, le=1000)
    # Refused activations a user may make in an hour, then 429: invite codes cannot be guessed.
    activation_failures_per_user_per_hour: int = Field(default=20, ge=1)

    # The origin share links are made with (`https://example.com`); unset, the request's own
    # scheme and Host (X-Forwarded-Proto only from a trusted proxy).
    public_base_url: str | None = None
    # The key of the HMAC that stands for a share-link visitor's IP address in the database.
    visitor_hash_key: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}visitor-hash-key")
    # The key of the HMAC that stands for a client's IP address in the audit log; the same value
    # as auth's AUDIT_HASH_KEY, so that one address hashes alike in both services' audit rows.
    audit_hash_key: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}audit-hash-key")
    # A share-link visitor is recorded at most once per code in each window of this length.
    invite_visit_window_seconds: int = Field(default=1800, ge=1, le=86_400)
    # Peers whose X-Forwarded-For and X-Forwarded-Proto are believed (the gateway), as in auth.
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        return parse_networks(value)

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _an_origin(cls, value: Any) -> Any:
        """An http(s) origin: scheme, host and port only; a trailing slash is dropped."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises on a port that is no number
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or "@" in parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ValueError("must be an http(s) origin such as https://example.com, no path")
        return f"{parts.scheme}://{parts.netloc}"

    def database_urls(self) -> dict[str, str]:
        return {"referral_database_url": self.referral_database_url}

    def secret_fields(self) -> dict[str, SecretStr | str | None]:
        return {
            **super().secret_fields(),
            "visitor_hash_key": self.visitor_hash_key,
            "audit_hash_key": self.audit_hash_key,
        }

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.public_base_url is None:
            # Share links must name the one public origin; from the Host header each new value
            # would also cost a QR code render (about 15 ms) to whoever sends it.
            problems.append("PUBLIC_BASE_URL must be set to the public origin of share links")
        return problems


class ReferralWebhookWorkerSettings(WebhookWorkerSettings):
    """`python -m referral_service.webhook_worker`: the database and the webhook settings only."""

    referral_database_url: str = DEFAULT_DATABASE_URL

    def database_urls(self) -> dict[str, str]:
        return {"referral_database_url": self.referral_database_url}
