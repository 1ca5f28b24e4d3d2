"""The settings base every service extends: environment variables only, read once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that are fine on a laptop and fatal in production.
DEV_SECRET_PREFIX = "dev-insecure-"  # noqa: S105 - a marker, not a secret


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    app_env: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    # Logs go through the JSON formatter unless a person is reading a terminal in development.
    log_json: bool = True

    jwt_issuer: str = "referral-platform-auth"
    jwt_audience: str = "referral-platform"
    redis_url: str = "redis://127.0.0.1:6379/0"

    cookie_secure: bool = True
    # Origins allowed to make cookie-authenticated state changes besides the request's own host.
    allowed_origins: list[str] = Field(default_factory=list)

    @property
    def is_production(self) -> bool:
        return self.app_env is Environment.PRODUCTION

    def secret_fields(self) -> dict[str, Any]:
        """Fields that must not keep a development default in production."""
        return {}

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> ServiceSettings:
        if not self.is_production:
            return self
        for name, value in self.secret_fields().items():
            text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            if not text or str(text).startswith(DEV_SECRET_PREFIX):
                raise ValueError(
                    f"{name.upper()} must be set to a real secret when APP_ENV=production"
                )
        return self
