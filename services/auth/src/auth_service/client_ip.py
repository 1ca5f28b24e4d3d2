"""Who the client is behind proxies: `common.client_ip`, which referral shares."""

from __future__ import annotations

from common.client_ip import client_address, rate_limit_subject

__all__ = ["client_address", "rate_limit_subject"]
