"""The profile: the identity from the verified token, the rest from a stored document.

One Redis round trip reads the session's revocation mark, the document's current version and
the stored document (common.profile_documents says how the versions keep it current). A
missing or stale document is rebuilt from referral and stored, unless it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common import profile_documents
from common.errors import NotAuthenticated
from common.profile_documents import SEPARATOR, document_key, new_version, version_key
from common.revocation import REVOKED_DETAIL, revoked_session_key
from common.tokens import Principal
from common.upstream import UpstreamUnavailable
from profile_service.clients import ReferralClient

logger = logging.getLogger(__name__)

# KEYS: version, document. ARGV: the version read before the rebuild ('' for none), a new
# version to use if there is none, the document, the version's TTL, the document's TTL.
# Stores the document only if the version is still the one read; returns 1 if it did.
_FILL = """
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[1] ~= '' then
    return 0
  end
  current = ARGV[2]
  redis.call('SET', KEYS[1], current, 'EX', ARGV[4])
elseif current ~= ARGV[1] then
  return 0
else
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
redis.call('SET', KEYS[2], current .. '\\n' .. ARGV[3], 'EX', ARGV[5])
return 1
"""


class ProfileService:
    def __init__(
        self,
        *,
        redis: Redis,
        referral: ReferralClient,
        ttl_seconds: int,
        deadline_seconds: float,
    ) -> None:
        self.referral = referral
        self._redis = redis
        self._ttl = ttl_seconds
        self._deadline = deadline_seconds
        self._fill = redis.register_script(_FILL)
        # Rebuilds in progress, by (session, version read): concurrent misses share one.
        self._rebuilds: dict[tuple[str, bytes | None], asyncio.Task[bytes]] = {}

    async def profile(self, principal: Principal) -> bytes:
        """The caller's profile as JSON; NotAuthenticated, or UpstreamUnavailable in time."""
        # A client that leaves replies as bytes (main.create_app): documents are never decoded.
        revoked, version, stored = cast(
            "list[bytes | None]",
            await self._redis.mget(
                revoked_session_key(principal.session_id),
                version_key(principal.user_id),
                document_key(principal.user_id),
            ),
        )
        if revoked is not None:
            raise NotAuthenticated(REVOKED_DETAIL)
        if stored is not None and version is not None and stored.startswith(version + SEPARATOR):
            document = stored[len(version) + 1 :]
        else:
            document = await self._rebuilt(principal, version)
        # The document is a JSON object; the identity goes in front of its first member. Both
        # values were checked when the token was verified: digits only.
        identity = b'{"id":%d,"phone":"%s",' % (principal.user_id, principal.phone.encode())
        return identity + document[1:]

    async def _rebuilt(self, principal: Principal, version: bytes | None) -> bytes:
        """The rebuilt document, within the deadline; the rebuild itself is never cancelled.

        Waiting callers give up at the deadline, but the call to referral runs to its own
        (httpx) timeouts: an HTTP request cancelled half-way can leave its pooled connection
        unusable.
        """
        key = (principal.session_id, version)
        rebuild = self._rebuilds.get(key)
        if rebuild is None:
            rebuild = _background(self._rebuild(principal, version))
            self._rebuilds[key] = rebuild
            rebuild.add_done_callback(lambda _: self._rebuilds.pop(key, None))
        try:
            async with asyncio.timeout(self._deadline):
                return await asyncio.shield(rebuild)
        except TimeoutError:
            raise _logged(
                self.referral.unavailable(f"no answer within {self._deadline} s")
            ) from None
        except UpstreamUnavailable as unavailable:
            raise _logged(unavailable) from None

    async def _rebuild(self, principal: Principal, version: bytes | None) -> bytes:
        document = await self.referral.profile_document(token=principal.token)
        if document.user_id != principal.user_id:
            raise self.referral.unavailable(
                f"answered for user {document.user_id}, the token is {principal.user_id}'s"
            )
        body = document.model_dump_json(exclude={"user_id"}).encode()
        try:
            await self._fill(
                keys=[version_key(principal.user_id), document_key(principal.user_id)],
                args=[
                    version or b"",
                    new_version(),
                    body,
                    profile_documents.VERSION_TTL_SECONDS,
                    self._ttl,
                ],
            )
        except RedisError as exc:
            # Served all the same; the next request rebuilds it again.
            logger.warning("profile document not stored", extra={"error": str(exc)})
        return body


def _background(work: Awaitable[bytes]) -> asyncio.Task[bytes]:
    task = asyncio.ensure_future(work)
    # Retrieved here so that a failure nobody waited for is not reported as never retrieved.
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _logged(error: UpstreamUnavailable) -> UpstreamUnavailable:
    logger.warning("referral unavailable", extra={"reason": error.reason})
    return error
