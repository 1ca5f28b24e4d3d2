"""Profile settings: where the two upstreams live and how long a profile may take."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from common.settings import ServiceSettings


class ProfileSettings(ServiceSettings):
    auth_service_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8001")
    referral_service_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    # The whole answer (both upstreams, called at once) is bounded by this, not each hop.
    upstream_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    invited_users_page_size: int = Field(default=100, ge=1)
