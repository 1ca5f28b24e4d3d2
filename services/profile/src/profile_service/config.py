"""Profile settings: where referral and the JWK Set live, how long a profile may take and last."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from common.settings import ServiceSettings, default_jwks_url


class ProfileSettings(ServiceSettings):
    # Only for the JWK Set: access tokens are verified here, not by asking auth.
    auth_service_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8001")
    jwks_url: str = Field(default_factory=default_jwks_url)
    referral_service_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    # The bound of a profile whose document must be rebuilt from referral.
    upstream_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # How long a stored profile document may serve; it backstops a lost invalidation.
    profile_cache_ttl_seconds: int = Field(default=60, ge=1, le=3600)
