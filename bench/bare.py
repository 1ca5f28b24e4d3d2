"""The bare-query limit: the profile's data from the same indexed queries, with nothing else.

A raw ASGI app (no framework, no second service): one psycopg2 connection per worker, queried
straight from the event loop, the profile's JSON built with orjson. Behind the same nginx
configuration as the gateway, it is what this machine can do at best for one profile:
`GET /profile/api_profile/?user_id=N`. Without `user_id` it does what a one-hop profile would
also have to do first: verify the bearer token (common.tokens.TokenVerifier: EdDSA signature
and claims, remembered per token as the services do), ask Redis once whether the token's
session was revoked (common.revocation.revoked_session_key), and take the user from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import psycopg2
from redis import Redis
from starlette.types import Receive, Scope, Send

from auth_service.jwt_keys import private_key_from_pem, public_jwk
from bench.db import dsn
from common.errors import NotAuthenticated
from common.redis import redis_from_url
from common.revocation import revoked_session_key
from common.settings import ServiceSettings
from common.tokens import StaticKeySource, TokenVerifier

PAGE_SIZE = 100
MEMBER = "SELECT phone, invite_code, invited_count FROM member WHERE user_id = %s"
ACTIVATED = "SELECT invite_code FROM activation WHERE invitee_id = %s"
FIRST_PAGE = (
    "SELECT activation.invitee_id, member.phone, activation.activated_at FROM activation "
    "JOIN member ON member.user_id = activation.invitee_id WHERE activation.inviter_id = %s "
    "ORDER BY activation.activated_at DESC, activation.invitee_id DESC LIMIT %s"
)
_JSON = [(b"content-type", b"application/json")]


class BareProfile:
    def __init__(self, database_url: str, verifier: TokenVerifier, redis: Redis) -> None:
        self._database_url = database_url
        self._verifier = verifier
        self._redis = redis
        self._connection: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["path"] == "/healthz":
            await _answer(send, 200, b"{}")
            return
        query = parse_qs(scope["query_string"].decode())
        user_id = int(query["user_id"][0]) if "user_id" in query else await self._caller(scope)
        if user_id is None:
            await _answer(send, 401, b'{"code":"not_authenticated"}')
            return
        body = self._profile(user_id)
        await _answer(send, 200 if body else 404, body or b"{}")

    async def _caller(self, scope: Scope) -> int | None:
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer":
            return None
        try:
            principal = await self._verifier.verify(token)
        except NotAuthenticated:
            return None
        # Blocking, like the queries: one round trip, the least a revocable session costs.
        if self._redis.exists(revoked_session_key(principal.session_id)):
            return None
        return principal.user_id

    def _profile(self, user_id: int) -> bytes | None:
        with self._connection.cursor() as cur:
            cur.execute(MEMBER, (user_id,))
            member = cur.fetchone()
            if member is None:
                return None
            cur.execute(ACTIVATED, (user_id,))
            activated = cur.fetchone()
            cur.execute(FIRST_PAGE, (user_id, PAGE_SIZE + 1))
            rows = cur.fetchall()
        phone, invite_code, invited_count = member
        return orjson.dumps(
            {
                "id": user_id,
                "phone": phone,
                "invite_code": invite_code,
                "activated_invite_code": activated[0] if activated else None,
                "invited_users": [
                    {"id": row[0], "phone": row[1], "activated_at": row[2]}
                    for row in rows[:PAGE_SIZE]
                ],
                "invited_count": invited_count,
                "invited_users_next": "/referral_system/api_invited_users/?cursor=x"
                if len(rows) > PAGE_SIZE
                else None,
            }
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._connection = psycopg2.connect(dsn(self._database_url))
                self._connection.autocommit = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._connection.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON})
    await send({"type": "http.response.body", "body": body})


def create_app() -> BareProfile:
    signing_key = private_key_from_pem(Path(os.environ["BENCH_BARE_KEY_FILE"]).read_bytes())
    settings = ServiceSettings()
    verifier = TokenVerifier(
        keys=StaticKeySource({"keys": [public_jwk(signing_key.public_key())]}),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    redis = redis_from_url(os.environ["BENCH_BARE_REDIS_URL"])
    return BareProfile(os.environ["BENCH_BARE_DATABASE_URL"], verifier, redis)
