"""The settings base every service extends: environment variables only, read once.

With APP_ENV=production a service refuses to start on anything that is only for development:
a `dev-insecure-` secret, a secret shorter than 32 bytes, cookies without `Secure`, and what
each service adds (`production_problems`). `load_settings` turns a refusal into one line per
problem naming the variable, and a non-zero exit.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url
from standardwebhooks.webhooks import Webhook

# Values that are fine on a laptop and fatal in production.
DEV_SECRET_PREFIX = "dev-insecure-"  # noqa: S105 - a marker, not a secret
MIN_SECRET_BYTES = 32
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
# Where the auth service publishes its JWK Set.
JWKS_PATH = "/authentication/.well-known/jwks.json"


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

    def secret_fields(self) -> dict[str, SecretStr | str | None]:
        """Secrets that must be real (no development value, at least 32 bytes) in production."""
        return {}

    def database_urls(self) -> dict[str, str]:
        """Database URLs whose passwords must not be development values in production."""
        return {}

    def production_problems(self) -> list[str]:
        """What this configuration has that production refuses, one sentence each."""
        problems = []
        if not self.cookie_secure:
            problems.append("COOKIE_SECURE=false sends the session cookies over plain http")
        for name, value in self.secret_fields().items():
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text or text.startswith(DEV_SECRET_PREFIX):
                problems.append(f"{name.upper()} must be set to a real secret")
            elif len(text.encode()) < MIN_SECRET_BYTES:
                problems.append(f"{name.upper()} must be at least {MIN_SECRET_BYTES} bytes long")
        for name, url in self.database_urls().items():
            password = make_url(url).password
            if password is not None and str(password).startswith(DEV_SECRET_PREFIX):
                problems.append(f"{name.upper()} has a development password")
        return problems

    @model_validator(mode="after")
    def _refuse_development_settings_in_production(self) -> ServiceSettings:
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise ValueError("; ".join(f"{issue} (APP_ENV=production)" for issue in problems))
        return self


class WebhookSettings(ServiceSettings):
    """Event webhooks (`common.outbox`): off, and no event written, unless WEBHOOK_URL is set."""

    webhook_url: AnyHttpUrl | None = None
    # Standard Webhooks secret: `whsec_` and the base64 of at least 24 random bytes.
    webhook_secret: SecretStr | None = None
    # An event not delivered this long after it happened is marked failed and logged.
    webhook_max_age_seconds: int = Field(86_400, ge=1)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # The delay before retry n is about base * 2**(n-1), at most max, with jitter.
    webhook_retry_base_seconds: float = Field(5.0, gt=0)
    webhook_retry_max_seconds: float = Field(3600.0, gt=0)
    # in_process: the service delivers its own events; worker: `python -m <service>.webhook_worker`.
    webhook_delivery: Literal["in_process", "worker"] = "in_process"

    @property
    def webhooks_enabled(self) -> bool:
        return self.webhook_url is not None

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_webhook_value_is_unset(cls, value: Any) -> Any:
        # Compose files and .env templates pass `NAME=` for "not set".
        return None if value == "" else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_is_a_standard_webhooks_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        try:
            valid = text.startswith(WEBHOOK_SECRET_PREFIX) and bool(Webhook(text))
        except Exception:
            valid = False
        if not valid:
            raise ValueError(f"must be {WEBHOOK_SECRET_PREFIX} and the base64 of random bytes")
        return value

    @model_validator(mode="after")
    def _webhook_url_needs_its_secret(self) -> WebhookSettings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("WEBHOOK_URL needs WEBHOOK_SECRET")
        return self

    def secret_fields(self) -> dict[str, SecretStr | str | None]:
        secrets = super().secret_fields()
        if self.webhook_url is not None:
            secrets["webhook_secret"] = self.webhook_secret
        return secrets


class WebhookWorkerSettings(WebhookSettings):
    """What a stand-alone delivery worker reads besides its service's database URL."""

    # Where the worker serves /healthz and /metrics.
    webhook_worker_port: int = Field(8090, ge=1, le=65535)


def default_jwks_url(data: dict[str, Any]) -> str:
    """JWKS_URL when unset: the JWK Set on AUTH_SERVICE_URL (a field's `default_factory`)."""
    return str(data["auth_service_url"]).rstrip("/") + JWKS_PATH


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **values: Any) -> S:
    """`cls` from the environment (and `values`); a refused configuration exits the process.

    Each problem is one line on stderr naming the variable, instead of a traceback.
    """
    try:
        return cls(**values)
    except ValidationError as refused:
        for error in refused.errors(include_url=False, include_input=False):
            location = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            for line in message.split("; "):
                print(
                    f"configuration refused: {f'{location}: ' if location else ''}{line}",
                    file=sys.stderr,
                )
        raise SystemExit(2) from None
