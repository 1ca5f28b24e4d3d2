"""One-time codes: drawn with `secrets`, kept in Redis only as an HMAC, checked atomically.

Keys (all with a TTL):
  auth:login:{login_id}       hash: phone, otp (HMAC of login id + code), attempts
  auth:login_of:{phone}       the phone's current login id; a new code replaces the old one
  auth:otp_failures:{phone}   consecutive wrong codes across logins, reset by a success
  auth:otp_lock:{phone}       present while the phone is locked out
  auth:dev_sms:{phone}        the simulated SMS (DEV_SMS_INBOX=true only)
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from redis import Redis

from auth_service.sms import INBOX_KEY, SimulatedSms

LOGIN_KEY = "auth:login:{login_id}"
LOGIN_OF_PHONE_KEY = "auth:login_of:{phone}"
FAILURES_KEY = "auth:otp_failures:{phone}"
LOCK_KEY = "auth:otp_lock:{phone}"

# A login id is ours only if it looks like one (secrets.token_urlsafe(24) gives 32 characters).
_LOGIN_ID_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_LOGIN_ID_LENGTH = 32

# KEYS: login_of_phone, new login, inbox.
# ARGV: login id, phone, otp hmac, ttl seconds, login key prefix, then the inbox fields or none.
_START = """
local previous = redis.call('GET', KEYS[1])
if previous then
  redis.call('DEL', ARGV[5] .. previous)
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('HSET', KEYS[2], 'phone', ARGV[2], 'otp', ARGV[3], 'attempts', 0)
redis.call('EXPIRE', KEYS[2], ARGV[4])
if #ARGV > 5 then
  redis.call('HSET', KEYS[3], 'login_id', ARGV[1], 'phone', ARGV[2], 'code', ARGV[6],
             'text', ARGV[7], 'sent_at', ARGV[8])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return 1
"""

# KEYS: login, login_of_phone, failures, lock, inbox.
# ARGV: login id, candidate hmac, max attempts, lockout failures, lockout seconds.
# Returns {'ok', phone} | {'wrong', attempts_left} | {'expired'} | {'locked', ms_left}.
_VERIFY = """
local function void()
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then
    redis.call('DEL', KEYS[2])
  end
  if redis.call('HGET', KEYS[5], 'login_id') == ARGV[1] then
    redis.call('DEL', KEYS[5])
  end
end

local lock_ms = redis.call('PTTL', KEYS[4])
if lock_ms > 0 then
  return {'locked', lock_ms}
end
local stored = redis.call('HMGET', KEYS[1], 'otp', 'phone')
if not stored[1] then
  return {'expired'}
end
-- Plain equality is safe here: the caller cannot compute HMACs, so timing tells it nothing.
if stored[1] == ARGV[2] then
  void()
  redis.call('DEL', KEYS[3])
  return {'ok', stored[2]}
end

local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
local left = tonumber(ARGV[3]) - attempts
if left <= 0 then
  void()
end
local failures = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
if failures >= tonumber(ARGV[4]) then
  void()
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[5])
  return {'locked', tonumber(ARGV[5]) * 1000}
end
return {'wrong', math.max(left, 0)}
"""


class Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Verification:
    outcome: Outcome
    phone: str | None = None
    attempts_left: int = 0
    retry_after: int = 0


def generate_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_login_id() -> str:
    return secrets.token_urlsafe(24)


def looks_like_login_id(value: str) -> bool:
    return len(value) == _LOGIN_ID_LENGTH and set(value) <= _LOGIN_ID_ALPHABET


def is_well_formed_code(value: str, length: int) -> bool:
    return len(value) == length and all(char in "0123456789" for char in value)


class OtpStore:
    def __init__(
        self,
        redis: Redis,
        *,
        secret: bytes,
        ttl_seconds: int,
        max_attempts: int,
        lockout_failures: int,
        lockout_seconds: int,
    ) -> None:
        self._redis = redis
        self._secret = secret
        self._ttl = ttl_seconds
        self._max_attempts = max_attempts
        self._lockout_failures = lockout_failures
        self._lockout_seconds = lockout_seconds
        self._start = redis.register_script(_START)
        self._verify = redis.register_script(_VERIFY)

    def _digest(self, login_id: str, code: str) -> str:
        # Bound to the login id: the same code under another login does not match.
        message = f"{login_id}:{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def start(self, *, login_id: str, phone: str, code: str, sms: SimulatedSms | None) -> None:
        """Make `code` the phone's only valid code; `sms` also goes to the dev inbox."""
        keys = [
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            LOGIN_KEY.format(login_id=login_id),
            INBOX_KEY.format(phone=phone),
        ]
        args: list[str | int] = [
            login_id,
            phone,
            self._digest(login_id, code),
            self._ttl,
            LOGIN_KEY.format(login_id=""),
        ]
        if sms is not None:
            args += [sms.code, sms.text, sms.sent_at]
        self._start(keys=keys, args=args)

    def void(self, *, login_id: str, phone: str) -> None:
        """Forget a login whose code never reached the user."""
        self._redis.delete(
            LOGIN_KEY.format(login_id=login_id),
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            INBOX_KEY.format(phone=phone),
        )

    def phone_of(self, login_id: str) -> str | None:
        if not looks_like_login_id(login_id):
            return None
        # Clients decode responses (common.redis), so strings come back.
        return cast("str | None", self._redis.hget(LOGIN_KEY.format(login_id=login_id), "phone"))

    def login_of(self, phone: str) -> str | None:
        return cast("str | None", self._redis.get(LOGIN_OF_PHONE_KEY.format(phone=phone)))

    def lock_seconds_left(self, phone: str) -> int:
        milliseconds = int(self._redis.pttl(LOCK_KEY.format(phone=phone)))
        return math.ceil(milliseconds / 1000) if milliseconds > 0 else 0

    def verify(self, *, login_id: str, phone: str, code: str) -> Verification:
        """Check one try atomically: count it, and void the code when used or out of tries."""
        keys = [
            LOGIN_KEY.format(login_id=login_id),
            LOGIN_OF_PHONE_KEY.format(phone=phone),
            FAILURES_KEY.format(phone=phone),
            LOCK_KEY.format(phone=phone),
            INBOX_KEY.format(phone=phone),
        ]
        args: list[str | int] = [
            login_id,
            self._digest(login_id, code),
            self._max_attempts,
            self._lockout_failures,
            self._lockout_seconds,
        ]
        result = self._verify(keys=keys, args=args)
        outcome = Outcome(result[0])
        if outcome is Outcome.OK:
            return Verification(outcome, phone=str(result[1]))
        if outcome is Outcome.WRONG:
            return Verification(outcome, attempts_left=int(result[1]))
        if outcome is Outcome.LOCKED:
            return Verification(outcome, retry_after=math.ceil(int(result[1]) / 1000))
        return Verification(outcome)
