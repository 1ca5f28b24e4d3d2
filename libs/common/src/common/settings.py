"""The settings base every service extends: environment variables only, read once.

With APP_ENV=production a service refuses to start on anything that is only for development:
a `dev-insecure-` secret, a secret shorter than 32 bytes, cookies without `Secure`, and what
each service adds (`production_problems`). `load_settings` turns a refusal into one line per
problem naming the variable, and a non-zero exit.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

# Values that are fine on a laptop and fatal in production.
DEV_SECRET_PREFIX = "dev-insecure-"  # noqa: S105 - a marker, not a secret
MIN_SECRET_BYTES = 32
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
