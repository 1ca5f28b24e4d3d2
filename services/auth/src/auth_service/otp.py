"""One-time codes and every limit around them, each step one atomic Lua script in Redis.

Codes are drawn with `secrets` and kept only as an HMAC bound to their login. Sending a code
checks the lockouts, the resend cooldown (while a live code exists) and the hourly caps, counts
the send (towards the caps and the day's count for the admin stats) and stores the code, all
in one script; checking a code counts the try, the failure streaks and caps, and voids the code
when it is used or out of tries, in another. An operator's unlock clears a phone's lockouts,
failure counters and send caps in a third. The keys are described in auth_service.redis_keys.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis

from auth_service.redis_keys import (
    COOLDOWN_KEY,
    DAILY_STATS_KEY,
    FAILING_CLIENTS_KEY,
    IP_FAILURES_KEY,
    IP_LOCK_KEY,
    IP_SENDS_KEY,
    LAST_LOGIN_OF_PHONE_KEY,
    LOGIN_KEY,
    LOGIN_OF_PHONE_KEY,
    PHONE_FAILURES_KEY,
    PHONE_LOCK_KEY,
    PHONE_SENDS_KEY,
    STREAK_KEY,
)

WINDOW_SECONDS = 3600
# The per-day counters of the admin stats outlive the longest range they show (365 days).
DAILY_STATS_TTL_SECONDS = 400 * 86_400
DAILY_SENDS_FIELD = "otp_sends"

# A login id is ours only if it looks like one (secrets.token_urlsafe(24) gives 32 characters).
_LOGIN_ID_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_LOGIN_ID_LENGTH = 32

# The number of entries of a sliding window (a sorted set of times) that leaves room for one
# more under `limit`, or the milliseconds until it will.
_WINDOW_WAIT = """
local function window_wait(key, limit, now, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then
    return 0
  end
  -- A slot frees when the entry that puts the count at the limit leaves the window.
  local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return tonumber(entry[2]) + window - now
end
"""

# KEYS: phone lock, (phone, ip) lock, cooldown, phone sends, ip sends, login_of, new login,
#       last login_of, the day's stats.
# ARGV: now ms, window ms, cooldown ms, phone limit, ip limit, login id, phone, otp hmac,
#       ttl s, login key prefix, stats ttl s.
# Returns {'ok'} | {'wait', ms} | {'locked', ms}; a refused request is not counted.
_SEND = (
    _WINDOW_WAIT
    + """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local lock_ms = math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))
if lock_ms > 0 then
  return {'locked', lock_ms}
end
local cooldown_ms = 0
if redis.call('EXISTS', KEYS[6]) == 1 then
  cooldown_ms = redis.call('PTTL', KEYS[3])
end
local wait = math.max(
  cooldown_ms,
  window_wait(KEYS[4], tonumber(ARGV[4]), now, window),
  window_wait(KEYS[5], tonumber(ARGV[5]), now, window)
)
if wait > 0 then
  return {'wait', wait}
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
end
for _, key in ipairs({KEYS[4], KEYS[5]}) do
  redis.call('ZADD', key, now, ARGV[6])
  redis.call('PEXPIRE', key, window)
end
local previous = redis.call('GET', KEYS[6])
if previous then
  redis.call('DEL', ARGV[10] .. previous)
end
redis.call('SET', KEYS[6], ARGV[6], 'EX', ARGV[9])
redis.call('SET', KEYS[8], ARGV[6], 'PX', tonumber(ARGV[9]) * 1000 + window)
redis.call('HSET', KEYS[7], 'phone', ARGV[7], 'otp', ARGV[8], 'attempts', 0)
redis.call('EXPIRE', KEYS[7], ARGV[9])
redis.call('HINCRBY', KEYS[9], 'otp_sends', 1)
redis.call('EXPIRE', KEYS[9], ARGV[11])
return {'ok'}
"""
)

# KEYS: cooldown, phone sends, ip sends, login_of, login, last login_of, the day's stats.
# ARGV: login id. Takes back a send whose code never reached the phone.
_UNSEND = """
redis.call('HINCRBY', KEYS[7], 'otp_sends', -1)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[5])
for _, key in ipairs({KEYS[4], KEYS[6]}) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
  end
end
return 1
"""

# KEYS: login, login_of, phone lock, (phone, ip) lock, streak, phone failures, ip failures,
#       last login_of, failing clients of the phone.
# ARGV: login id, candidate hmac, max attempts, streak limit, lockout s, phone failure limit,
#       ip failure limit, now ms, window ms, unique member, client.
# Returns {'ok', phone} | {'wrong', attempts left} | {'void', reason} | {'locked', ms}
#       | {'locked', ms, 'client' | 'phone'} (this try set the lockout) | {'limited', ms}.
# A login whose hash is gone (its time ran out, or a newer code or a sign-in ended it) is
# void for 'expired'; one voided by wrong tries keeps its hash to say so.
_VERIFY = (
    _WINDOW_WAIT
    + """
local now, window = tonumber(ARGV[8]), tonumber(ARGV[9])
local lock_ms = math.max(redis.call('PTTL', KEYS[3]), redis.call('PTTL', KEYS[4]))
if lock_ms > 0 then
  return {'locked', lock_ms}
end
local ip_wait = window_wait(KEYS[7], tonumber(ARGV[7]), now, window)
if ip_wait > 0 then
  return {'limited', ip_wait}
end
local stored = redis.call('HMGET', KEYS[1], 'otp', 'phone', 'void')
if not stored[2] then
  return {'void', 'expired'}
end
if stored[3] then
  return {'void', stored[3]}
end

local function void(reason)
  redis.call('HSET', KEYS[1], 'void', reason)
  if redis.call('GET', KEYS[2]) == ARGV[1] then
    redis.call('DEL', KEYS[2])
  end
end

-- Plain equality is safe here: the caller cannot compute HMACs, so timing tells it nothing.
if stored[1] == ARGV[2] then
  redis.call('DEL', KEYS[1], KEYS[5])
  for _, key in ipairs({KEYS[2], KEYS[8]}) do
    if redis.call('GET', key) == ARGV[1] then
      redis.call('DEL', key)
    end
  end
  return {'ok', stored[2]}
end

local lockout = tonumber(ARGV[5])
local left = tonumber(ARGV[3]) - redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if left <= 0 then
  void('attempts_exhausted')
end
redis.call('ZADD', KEYS[7], now, ARGV[10])
redis.call('PEXPIRE', KEYS[7], window)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - window)
redis.call('ZADD', KEYS[6], now, ARGV[10])
redis.call('PEXPIRE', KEYS[6], window)
local streak = redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], lockout)
redis.call('SADD', KEYS[9], ARGV[11])
redis.call('EXPIRE', KEYS[9], lockout)
local lock, scope
if streak >= tonumber(ARGV[4]) then
  lock, scope = KEYS[4], 'client'
  redis.call('DEL', KEYS[5])
elseif redis.call('ZCARD', KEYS[6]) >= tonumber(ARGV[6]) then
  lock, scope = KEYS[3], 'phone'
end
if lock then
  redis.call('SET', lock, '1', 'EX', lockout)
  void('attempts_exhausted')
  return {'locked', lockout * 1000, scope}
end
return {'wrong', math.max(left, 0)}
"""
)

# KEYS: phone lock, phone failures, cooldown, phone sends, failing clients.
# ARGV: (phone, ip) lock key prefix, streak key prefix.
# Clears the phone's lockouts, for every IP and per IP, its failure counters and its send caps.
_UNLOCK = """
for _, client in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  redis.call('DEL', ARGV[1] .. client, ARGV[2] .. client)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class OtpPolicy:
    ttl_seconds: int
    max_attempts: int
    lockout_failures: int
    lockout_seconds: int
    lockout_failures_per_phone: int
    max_verify_failures_per_ip: int
    resend_cooldown_seconds: int
    max_sends_per_phone: int
    max_sends_per_ip: int


class SendOutcome(StrEnum):
    SENT = "ok"
    WAIT = "wait"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Send:
    outcome: SendOutcome
    login_id: str = ""
    retry_after: int = 0


class Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    VOID = "void"
    LOCKED = "locked"
    LIMITED = "limited"


@dataclass(frozen=True, slots=True)
class Verification:
    outcome: Outcome
    phone: str | None = None
    attempts_left: int = 0
    retry_after: int = 0
    # Why a code that was asked for no longer works: expired | attempts_exhausted.
    # (no_pending_login, nothing asked for at all, is the caller's to tell: see service.py.)
    reason: str = ""
    # Set when this very try locked the phone: "client" (for this IP) or "phone" (for all).
    locked_scope: str | None = None


def generate_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_login_id() -> str:
    return secrets.token_urlsafe(24)


def looks_like_login_id(value: str) -> bool:
    return len(value) == _LOGIN_ID_LENGTH and set(value) <= _LOGIN_ID_ALPHABET


def is_well_formed_code(value: str, length: int) -> bool:
    return len(value) == length and all(char in "0123456789" for char in value)


def _seconds(milliseconds: int) -> int:
    return max(1, math.ceil(milliseconds / 1000))


class OtpStore:
    def __init__(
        self,
        redis: Redis,
        *,
        secret: bytes,
        policy: OtpPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._secret = secret
        self._policy = policy
        self._clock = clock
        self._send = redis.register_script(_SEND)
        self._unsend = redis.register_script(_UNSEND)
        self._verify = redis.register_script(_VERIFY)
        self._unlock = redis.register_script(_UNLOCK)

    def _digest(self, login_id: str, code: str) -> str:
        # Bound to the login id: the same code under another login does not match.
        message = f"{login_id}:{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _daily_key(self) -> str:
        day = datetime.fromtimestamp(self._clock(), UTC).date()
        return DAILY_STATS_KEY.format(day=day.isoformat())

    async def send(self, *, phone: str, client: str, code: str) -> Send:
        """Store `code` as the phone's only valid one if every limit allows a send now."""
        policy, login_id = self._policy, new_login_id()
        keys = [
            PHONE_LOCK_KEY.format(phone=phone),
            IP_LOCK_KEY.format(phone=phone, ip=client),
            COOLDOWN_KEY.format(phone=phone),
            PHONE_SENDS_KEY.format(phone=phone),
            IP_SENDS_KEY.format(ip=client),
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            LOGIN_KEY.format(login_id=login_id),
            LAST_LOGIN_OF_PHONE_KEY.format(phone=phone),
            self._daily_key(),
        ]
        args: list[str | int] = [
            self._now_ms(),
            WINDOW_SECONDS * 1000,
            policy.resend_cooldown_seconds * 1000,
            policy.max_sends_per_phone,
            policy.max_sends_per_ip,
            login_id,
            phone,
            self._digest(login_id, code),
            policy.ttl_seconds,
            LOGIN_KEY.format(login_id=""),
            DAILY_STATS_TTL_SECONDS,
        ]
        result = await self._send(keys=keys, args=args)
        outcome = SendOutcome(result[0])
        if outcome is SendOutcome.SENT:
            return Send(outcome, login_id=login_id)
        return Send(outcome, retry_after=_seconds(int(result[1])))

    async def unsend(self, *, phone: str, client: str, login_id: str) -> None:
        """Take back a send whose code never reached the phone: it counts towards no limit."""
        keys = [
            COOLDOWN_KEY.format(phone=phone),
            PHONE_SENDS_KEY.format(phone=phone),
            IP_SENDS_KEY.format(ip=client),
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            LOGIN_KEY.format(login_id=login_id),
            LAST_LOGIN_OF_PHONE_KEY.format(phone=phone),
            self._daily_key(),
        ]
        await self._unsend(keys=keys, args=[login_id])

    async def phone_of(self, login_id: str) -> str | None:
        if not looks_like_login_id(login_id):
            return None
        # Clients decode responses (common.redis), so strings come back.
        phone = await self._redis.hget(LOGIN_KEY.format(login_id=login_id), "phone")
        return cast("str | None", phone)

    async def login_of(self, phone: str) -> str | None:
        return cast("str | None", await self._redis.get(LOGIN_OF_PHONE_KEY.format(phone=phone)))

    async def latest_login_of(self, phone: str) -> str | None:
        """The phone's live login, else its latest dead one while that is remembered."""
        live, last = await self._redis.mget(
            LOGIN_OF_PHONE_KEY.format(phone=phone), LAST_LOGIN_OF_PHONE_KEY.format(phone=phone)
        )
        return cast("str | None", live or last)

    async def lock_seconds_left(self, *, phone: str, client: str) -> int:
        """How long the phone's sign-in stays locked for this client; 0 when it is not."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.pttl(PHONE_LOCK_KEY.format(phone=phone))
            pipe.pttl(IP_LOCK_KEY.format(phone=phone, ip=client))
            milliseconds = max(await pipe.execute())
        return _seconds(milliseconds) if milliseconds > 0 else 0

    async def verify(self, *, login_id: str, phone: str, client: str, code: str) -> Verification:
        """Check one try atomically: count it, and void the code when used or out of tries."""
        policy = self._policy
        keys = [
            LOGIN_KEY.format(login_id=login_id),
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            PHONE_LOCK_KEY.format(phone=phone),
            IP_LOCK_KEY.format(phone=phone, ip=client),
            STREAK_KEY.format(phone=phone, ip=client),
            PHONE_FAILURES_KEY.format(phone=phone),
            IP_FAILURES_KEY.format(ip=client),
            LAST_LOGIN_OF_PHONE_KEY.format(phone=phone),
            FAILING_CLIENTS_KEY.format(phone=phone),
        ]
        args: list[str | int] = [
            login_id,
            self._digest(login_id, code),
            policy.max_attempts,
            policy.lockout_failures,
            policy.lockout_seconds,
            policy.lockout_failures_per_phone,
            policy.max_verify_failures_per_ip,
            self._now_ms(),
            WINDOW_SECONDS * 1000,
            secrets.token_hex(8),
            client,
        ]
        result = await self._verify(keys=keys, args=args)
        outcome = Outcome(result[0])
        match outcome:
            case Outcome.OK:
                return Verification(outcome, phone=str(result[1]))
            case Outcome.WRONG:
                return Verification(outcome, attempts_left=int(result[1]))
            case Outcome.VOID:
                return Verification(outcome, reason=str(result[1]))
        scope = str(result[2]) if len(result) > 2 else None
        return Verification(outcome, retry_after=_seconds(int(result[1])), locked_scope=scope)

    async def unlock(self, phone: str) -> None:
        """Clear the phone's lockouts (for every IP and per IP), failure counters and send caps."""
        keys = [
            PHONE_LOCK_KEY.format(phone=phone),
            PHONE_FAILURES_KEY.format(phone=phone),
            COOLDOWN_KEY.format(phone=phone),
            PHONE_SENDS_KEY.format(phone=phone),
            FAILING_CLIENTS_KEY.format(phone=phone),
        ]
        prefixes = [IP_LOCK_KEY.format(phone=phone, ip=""), STREAK_KEY.format(phone=phone, ip="")]
        await self._unlock(keys=keys, args=prefixes)

    async def locked_until(self, phones: list[str]) -> dict[str, datetime]:
        """When each phone's lockout for every IP ends, for the locked ones; one round trip."""
        if not phones:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for phone in phones:
                pipe.pttl(PHONE_LOCK_KEY.format(phone=phone))
            left = await pipe.execute()
        now = self._clock()
        return {
            phone: datetime.fromtimestamp(now + int(ms) / 1000, UTC)
            for phone, ms in zip(phones, left, strict=True)
            if int(ms) > 0
        }

    async def sends_per_day(self, days: list[date]) -> dict[date, int]:
        """The codes sent on each UTC day (kept for DAILY_STATS_TTL_SECONDS); one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hget(DAILY_STATS_KEY.format(day=day.isoformat()), DAILY_SENDS_FIELD)
            counts = await pipe.execute()
        return {day: max(0, int(count or 0)) for day, count in zip(days, counts, strict=True)}
