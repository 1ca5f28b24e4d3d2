"""Referral service settings, read once from the environment."""

from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings, default_jwks_url


class ReferralSettings(ServiceSettings):
    referral_database_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/referral"
    db_pool_size: int = Field(default=10, ge=1)
    auth_service_url: str = "http://127.0.0.1:8001"
    # Declared after AUTH_SERVICE_URL: the default is derived from it.
    jwks_url: str = Field(default_factory=default_jwks_url)
    invited_users_page_size: int = Field(default=100, ge=1, le=1000)
    # Refused activations a user may make in an hour, then 429: invite codes cannot be guessed.
    activation_failures_per_user_per_hour: int = Field(default=20, ge=1)

    def database_urls(self) -> dict[str, str]:
        return {"referral_database_url": self.referral_database_url}
