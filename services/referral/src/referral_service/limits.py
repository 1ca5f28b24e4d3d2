"""The cap on refused activations per user, so that invite codes cannot be enumerated.

`referral:activation_failures:{user_id}` holds "<count> <window end, epoch seconds>": a window
of an hour opens with the user's first refusal. It is read in the same round trip as the
session check; each refusal counts one in a script.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from redis.asyncio import Redis

from common.errors import TooManyRequests

FAILURES_KEY = "referral:activation_failures:{user_id}"
WINDOW_SECONDS = 3600
TOO_MANY_DETAIL = "Too many refused activations. Try again later."

# KEYS: the user's counter. ARGV: now (s), window (s). Counts one refusal.
_COUNT = """
local stored = redis.call('GET', KEYS[1])
local count, ends = 0, tonumber(ARGV[1]) + tonumber(ARGV[2])
if stored then
  local c, e = string.match(stored, '^(%d+) (%d+)$')
  count, ends = tonumber(c), tonumber(e)
end
redis.call('SET', KEYS[1], (count + 1) .. ' ' .. ends, 'EXAT', ends)
return count + 1
"""


def failures_key(user_id: int) -> str:
    return FAILURES_KEY.format(user_id=user_id)


class ActivationFailures:
    def __init__(
        self, redis: Redis, *, per_hour: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._per_hour = per_hour
        self._clock = clock
        self._count = redis.register_script(_COUNT)

    def check(self, stored: str | None) -> None:
        """Refuse (429) a user whose counter, as read, is at the cap."""
        if stored is None:
            return
        count, _, ends = stored.partition(" ")
        if int(count) >= self._per_hour:
            raise TooManyRequests(math.ceil(int(ends) - self._clock()), TOO_MANY_DETAIL)

    async def count(self, user_id: int) -> None:
        await self._count(keys=[failures_key(user_id)], args=[int(self._clock()), WINDOW_SECONDS])
