"""The referral service, asked for a profile document when none is stored.

The call carries the caller's own access token, and a pool that stops answering is replaced
(`common.upstream`). The answer is validated strictly; anything but a well-formed 200 is
`UpstreamUnavailable`, and referral's 401 becomes the caller's.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from common.upstream import Upstream
from profile_service.schemas import StoredDocument

PROFILE_PATH = "/internal/referral/profile"


class ProfileDocument(StoredDocument):
    """Referral's answer: the stored document, and whose it is."""

    user_id: int


class ReferralClient(Upstream):
    """Referral, over one pooled HTTP client replaced if it is found stuck."""

    def __init__(self, make_http: Callable[[], httpx.AsyncClient]) -> None:
        super().__init__("referral", make_http)

    async def profile_document(self, *, token: str) -> ProfileDocument:
        """The caller's invite code, activated code, count and first page of invitees."""
        return self.parse(ProfileDocument, await self.call("GET", PROFILE_PATH, token=token))
