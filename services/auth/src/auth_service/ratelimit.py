"""Limits on sending codes (per phone and per client IP), and who the client is behind a proxy.

Keys (all with a TTL):
  auth:send_cooldown:{phone}   present for OTP_RESEND_COOLDOWN_SECONDS after a send
  auth:sends:phone:{phone}     sorted set of send times in the last hour (a sliding window)
  auth:sends:ip:{ip}           the same per client IP (an IPv6 client is its /64)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from redis import Redis

from auth_service.config import Network
from auth_service.otp import LOCK_KEY

COOLDOWN_KEY = "auth:send_cooldown:{phone}"
PHONE_WINDOW_KEY = "auth:sends:phone:{phone}"
IP_WINDOW_KEY = "auth:sends:ip:{ip}"
WINDOW_SECONDS = 3600
# Enough for any real proxy chain; the rest of a long header is client-written anyway.
_MAX_FORWARDED_HOPS = 20

# KEYS: lock, cooldown, phone window, ip window.
# ARGV: now ms, window ms, cooldown ms, phone limit, ip limit, unique member.
# Returns {'ok'} | {'wait', ms} | {'locked', ms}; a refused request is not counted.
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])

local lock_ms = redis.call('PTTL', KEYS[1])
if lock_ms > 0 then
  return {'locked', lock_ms}
end

local function window_wait(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then
    return 0
  end
  -- A slot frees when the entry that puts the count at the limit leaves the window.
  local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return tonumber(entry[2]) + window - now
end

local wait = math.max(
  redis.call('PTTL', KEYS[2]),
  window_wait(KEYS[3], tonumber(ARGV[4])),
  window_wait(KEYS[4], tonumber(ARGV[5]))
)
if wait > 0 then
  return {'wait', wait}
end

local cooldown = tonumber(ARGV[3])
if cooldown > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', cooldown)
end
for _, key in ipairs({KEYS[3], KEYS[4]}) do
  redis.call('ZADD', key, now, ARGV[6])
  redis.call('PEXPIRE', key, window)
end
return {'ok'}
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    allowed: bool
    retry_after: int = 0
    locked: bool = False


class SendLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        cooldown_seconds: int,
        per_phone_per_hour: int,
        per_ip_per_hour: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cooldown_ms = cooldown_seconds * 1000
        self._per_phone = per_phone_per_hour
        self._per_ip = per_ip_per_hour
        self._clock = clock
        self._reserve = redis.register_script(_RESERVE)

    def reserve(self, *, phone: str, client: str, send_id: str) -> Reservation:
        """Count one send if every limit allows it; otherwise say how long until one would."""
        keys = [
            LOCK_KEY.format(phone=phone),
            COOLDOWN_KEY.format(phone=phone),
            PHONE_WINDOW_KEY.format(phone=phone),
            IP_WINDOW_KEY.format(ip=client),
        ]
        now_ms = int(self._clock() * 1000)
        args: list[str | int] = [
            now_ms,
            WINDOW_SECONDS * 1000,
            self._cooldown_ms,
            self._per_phone,
            self._per_ip,
            send_id,
        ]
        result = self._reserve(keys=keys, args=args)
        if result[0] == "ok":
            return Reservation(allowed=True)
        retry_after = max(1, math.ceil(int(result[1]) / 1000))
        return Reservation(allowed=False, retry_after=retry_after, locked=result[0] == "locked")


def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's IP: the right-most X-Forwarded-For hop not added by a trusted proxy.

    X-Forwarded-For is read only when the direct peer is a trusted proxy; everything left
    of the first untrusted hop was written by the client and is ignored.
    """
    if peer is None:
        return "unknown"
    peer_address = _parse_address(peer)
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    client = peer_address
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        address = _parse_address(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def rate_limit_subject(client: str) -> str:
    """One IPv6 host usually holds a whole /64, so the /64 is what gets counted."""
    address = _parse_address(client)
    if not isinstance(address, IPv6Address):
        return client
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(IPv6Network((address, 64), strict=False))
