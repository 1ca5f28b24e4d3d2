"""Login sessions: refresh tokens that rotate on every use, and their revocation.

A session is one sign-in. Every refresh hands out the session's next token and retires the
presented one. The token it retired, presented again within REFRESH_REUSE_GRACE_SECONDS,
answers with the same successor (two tabs refreshing at once stay signed in); any other retired
token means two parties hold the session, and the session is revoked. Revoking a session also
marks it in `auth:revoked_session:{sid}` (common.revocation) for as long as one of its access
tokens could still be valid, so every service refuses them at once.

The successor is kept for the grace sealed with the token it replaced (XOR with an HMAC of
that token), so what is stored cannot be used without the retired token itself. The keys are
described in auth_service.redis_keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from auth_service.redis_keys import (
    REFRESH_TOKEN_KEY,
    SESSION_KEY,
    SIGN_IN_BAR_KEY,
    USER_SESSIONS_KEY,
)
from common.revocation import REVOKED_SESSION_KEY, revoked_session_key

MAX_REFRESH_TOKEN_LENGTH = 256
MAX_USER_AGENT_LENGTH = 256
_TOKEN_BYTES = 32
# The newest sessions a user is shown (`of_user`); ending them all reaches every one.
MAX_LISTED_SESSIONS = 100
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_LISTED_FIELDS = ("user_id", "created_at", "last_used_at", "user_agent")

# Far longer than a sign-in takes from reading the user to starting its session.
SIGN_IN_BAR_SECONDS = 600

# KEYS: session, first refresh token, the user's sessions, the user's sign-in bar.
# ARGV: ttl s, now ms, user id, phone, token digest, user agent, session id.
# Returns 1, or 0 (nothing written) while the user is barred.
_START = """
if redis.call('EXISTS', KEYS[4]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'user_id', ARGV[3], 'phone', ARGV[4], 'current', ARGV[5],
           'created_at', ARGV[2], 'last_used_at', ARGV[2], 'user_agent', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return 1
"""

# KEYS: the presented token's key.
# ARGV: presented digest, next digest, sealed next token, now ms, grace ms, ttl s,
#       session prefix, token prefix, revoked prefix, revocation ttl s, user sessions prefix.
# Returns {'ok', sid, user_id, phone} | {'grace', sid, user_id, phone, sealed successor}
#       | {'invalid'} | {'reused', sid, user_id}.
_ROTATE = """
local sid = redis.call('GET', KEYS[1])
if not sid then
  return {'invalid'}
end
local session_key = ARGV[7] .. sid
local s = redis.call('HMGET', session_key, 'current', 'previous', 'rotated_at', 'successor',
                     'user_id', 'phone')
if not s[1] then
  return {'invalid'}
end
local now = tonumber(ARGV[4])
if s[1] == ARGV[1] then
  redis.call('HSET', session_key, 'current', ARGV[2], 'previous', ARGV[1], 'rotated_at', now,
             'successor', ARGV[3], 'last_used_at', now)
  redis.call('EXPIRE', session_key, ARGV[6])
  redis.call('SET', ARGV[8] .. ARGV[2], sid, 'EX', ARGV[6])
  return {'ok', sid, s[5], s[6]}
end
if s[2] == ARGV[1] and now - tonumber(s[3]) <= tonumber(ARGV[5]) then
  redis.call('HSET', session_key, 'last_used_at', now)
  return {'grace', sid, s[5], s[6], s[4]}
end
redis.call('DEL', session_key)
redis.call('ZREM', ARGV[11] .. s[5], sid)
redis.call('SET', ARGV[9] .. sid, '1', 'EX', ARGV[10])
return {'reused', sid, s[5]}
"""

# KEYS: session, revocation mark. ARGV: sid, revocation ttl s, user sessions prefix.
# Returns the session's user id, or false if it had ended already.
_REVOKE = """
local user_id = redis.call('HGET', KEYS[1], 'user_id')
redis.call('DEL', KEYS[1])
if user_id then
  redis.call('ZREM', ARGV[3] .. user_id, ARGV[1])
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
return user_id
"""


@dataclass(frozen=True, slots=True)
class IssuedRefresh:
    token: str
    session_id: str
    user_id: int
    phone: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as its owner sees it. `last_used_at` is its latest sign-in or refresh
    (an access token lives ACCESS_TOKEN_TTL_SECONDS between them)."""

    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str


def _moment(milliseconds: str | None) -> datetime:
    return datetime.fromtimestamp(int(milliseconds or 0) / 1000, UTC)


class SignInBarred(Exception):
    """A ban is ending the user's sessions: no new one may start."""


class RefreshRejected(Exception):
    """A refresh refused; a reused token names the session it revoked and its user."""

    def __init__(
        self, *, reused: bool, session_id: str | None = None, user_id: int | None = None
    ) -> None:
        self.reused = reused
        self.session_id = session_id
        self.user_id = user_id
        super().__init__("reused" if reused else "invalid")


def _digest(token: str) -> str:
    # The token carries 256 random bits, so a plain hash is as good as a keyed one.
    return hashlib.sha256(token.encode()).hexdigest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _seal(successor: bytes, retired_token: str) -> str:
    pad = hmac.new(retired_token.encode(), b"refresh-successor", hashlib.sha256).digest()
    return bytes(a ^ b for a, b in zip(successor, pad, strict=True)).hex()


def _unseal(sealed: str, retired_token: str) -> str:
    return _encode(bytes.fromhex(_seal(bytes.fromhex(sealed), retired_token)))


def _well_formed(token: str | None) -> bool:
    return bool(token) and len(token or "") <= MAX_REFRESH_TOKEN_LENGTH


class Sessions:
    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: int,
        grace_seconds: int,
        revocation_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`revocation_seconds`: how long a revoked session's access tokens could still live."""
        self._redis = redis
        self._ttl = ttl_seconds
        self._grace_ms = grace_seconds * 1000
        self._revocation_seconds = revocation_seconds
        self._clock = clock
        self._start = redis.register_script(_START)
        self._rotate = redis.register_script(_ROTATE)
        self._revoke = redis.register_script(_REVOKE)

    async def start(self, *, user_id: int, phone: str, user_agent: str) -> IssuedRefresh:
        """A new session for a sign-in, with its first refresh token; SignInBarred while a
        ban is ending the user's sessions (`bar_sign_in`)."""
        token, session_id = _encode(secrets.token_bytes(_TOKEN_BYTES)), secrets.token_urlsafe(16)
        started = await self._start(
            keys=[
                SESSION_KEY.format(sid=session_id),
                REFRESH_TOKEN_KEY.format(digest=_digest(token)),
                USER_SESSIONS_KEY.format(user_id=user_id),
                SIGN_IN_BAR_KEY.format(user_id=user_id),
            ],
            args=[
                self._ttl,
                int(self._clock() * 1000),
                user_id,
                phone,
                _digest(token),
                user_agent[:MAX_USER_AGENT_LENGTH],
                session_id,
            ],
        )
        if not started:
            raise SignInBarred()
        return IssuedRefresh(token=token, session_id=session_id, user_id=user_id, phone=phone)

    async def bar_sign_in(self, user_id: int, *, seconds: int = SIGN_IN_BAR_SECONDS) -> None:
        """No session of the user starts for `seconds` (a ban, before it ends them).

        A sign-in reads the ban in its statement and starts its session after: one that read
        the user just before the ban committed would otherwise start a session after the ban
        has ended the others. Redis runs the bar, each session start and `revoke_all_of_user`
        one at a time, so every session either started before the bar (and is ended) or is
        refused.
        """
        await self._redis.set(SIGN_IN_BAR_KEY.format(user_id=user_id), 1, ex=max(seconds, 1))

    async def lift_sign_in_bar(self, user_id: int) -> None:
        await self._redis.delete(SIGN_IN_BAR_KEY.format(user_id=user_id))

    async def rotate(self, token: str) -> IssuedRefresh:
        """The session's next token for its current one; RefreshRejected otherwise."""
        if not _well_formed(token):
            raise RefreshRejected(reused=False)
        successor = secrets.token_bytes(_TOKEN_BYTES)
        result = await self._rotate(
            keys=[REFRESH_TOKEN_KEY.format(digest=_digest(token))],
            args=[
                _digest(token),
                _digest(_encode(successor)),
                _seal(successor, token),
                int(self._clock() * 1000),
                self._grace_ms,
                self._ttl,
                SESSION_KEY.format(sid=""),
                REFRESH_TOKEN_KEY.format(digest=""),
                REVOKED_SESSION_KEY.format(sid=""),
                self._revocation_seconds,
                USER_SESSIONS_KEY.format(user_id=""),
            ],
        )
        match result[0]:
            case "ok":
                next_token = _encode(successor)
            case "grace":
                next_token = _unseal(str(result[4]), token)
            case "reused":
                owner = result[2] if len(result) > 2 else None
                raise RefreshRejected(
                    reused=True,
                    session_id=str(result[1]),
                    user_id=int(owner) if owner else None,
                )
            case _:
                raise RefreshRejected(reused=False)
        return IssuedRefresh(
            token=next_token,
            session_id=str(result[1]),
            user_id=int(result[2]),
            phone=str(result[3]),
        )

    async def session_of(self, token: str) -> str | None:
        """The session a refresh token belongs to, if it names one."""
        if not _well_formed(token):
            return None
        # Clients decode responses (common.redis), so strings come back.
        return cast(
            "str | None", await self._redis.get(REFRESH_TOKEN_KEY.format(digest=_digest(token)))
        )

    async def of_user(self, user_id: int) -> list[SessionInfo]:
        """The user's live sessions, newest first (at most MAX_LISTED_SESSIONS).

        The index is read newest first, MAX_LISTED_SESSIONS at a time, until that many live
        ones are found: a user with thousands of sessions costs a page, not thousands of reads.
        Sessions that ended by their TTL are dropped from the user's index on the way.
        """
        user_key = USER_SESSIONS_KEY.format(user_id=user_id)
        live: dict[str, SessionInfo] = {}
        start = 0
        while len(live) < MAX_LISTED_SESSIONS:
            stop = start + MAX_LISTED_SESSIONS - 1
            ids = [str(sid) for sid in await self._redis.zrevrange(user_key, start, stop)]
            if not ids:
                break
            async with self._redis.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.hmget(
                        SESSION_KEY.format(sid=sid),
                        "user_id",
                        "created_at",
                        "last_used_at",
                        "user_agent",
                    )
                rows = await pipe.execute()
            ended = []
            for sid, (owner, created_at, last_used_at, user_agent) in zip(ids, rows, strict=True):
                if owner != str(user_id):
                    ended.append(sid)
                    continue
                # A session started meanwhile moves the others down: one may be read twice.
                live.setdefault(
                    sid,
                    SessionInfo(
                        id=sid,
                        created_at=_moment(created_at),
                        last_used_at=_moment(last_used_at),
                        user_agent=user_agent or "",
                    ),
                )
            if ended:
                await self._redis.zrem(user_key, *ended)
            # The ended ones left the index: the next page starts that much higher.
            start += len(ids) - len(ended)
        return list(live.values())[:MAX_LISTED_SESSIONS]

    async def revoke_of_user(self, user_id: int, session_id: str) -> bool:
        """End the user's session `session_id`; False if the user has no such live session."""
        if not _SESSION_ID.fullmatch(session_id):
            return False
        owner = await self._redis.hget(SESSION_KEY.format(sid=session_id), "user_id")
        if owner != str(user_id):
            return False
        await self.revoke(session_id)
        return True

    async def revoke_all_of_user(self, user_id: int) -> int:
        """End every session of the user, in one round trip; how many there were."""
        ids = [
            str(sid)
            for sid in await self._redis.zrange(USER_SESSIONS_KEY.format(user_id=user_id), 0, -1)
        ]
        if not ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                await self._revoke(
                    keys=[SESSION_KEY.format(sid=sid), revoked_session_key(sid)],
                    args=[sid, self._revocation_seconds, USER_SESSIONS_KEY.format(user_id="")],
                    client=pipe,
                )
            await pipe.execute()
        return len(ids)

    async def revoke(self, session_id: str) -> int | None:
        """End the session: its refresh tokens stop working, its access tokens are refused.

        The session's user id, or None if it had ended already.
        """
        user_id = await self._revoke(
            keys=[SESSION_KEY.format(sid=session_id), revoked_session_key(session_id)],
            args=[session_id, self._revocation_seconds, USER_SESSIONS_KEY.format(user_id="")],
        )
        return int(user_id) if user_id else None
