"""The admin API's pure parts and its Redis scripts: search parsing, cursors, the role check,
the IP hash, the unlock and the per-day count of codes sent."""

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

import fakeredis
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from auth_service.admin import Search, decode_cursor, encode_cursor, parse_search, parse_user_id
from auth_service.errors import InvalidCursor, InvalidQuery
from auth_service.otp import DAILY_STATS_TTL_SECONDS, OtpPolicy, OtpStore, Outcome, SendOutcome
from common.authn import Authenticator, role_dependency
from common.errors import install_error_handlers
from common.redis import async_redis_from_url
from common.tokens import Principal, StaticKeySource, TokenVerifier
from testkit.clock import ManualClock

PHONE = "9991234567"
HERE, THERE = "203.0.113.7", "198.51.100.1"
POLICY = OtpPolicy(
    ttl_seconds=300,
    max_attempts=3,
    lockout_failures=2,
    lockout_seconds=3600,
    lockout_failures_per_phone=4,
    max_verify_failures_per_ip=100,
    resend_cooldown_seconds=60,
    max_sends_per_phone=3,
    max_sends_per_ip=100,
)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("999", Search("9990000000", "9999999999", 999)),
        ("+7 (999) 123-45-67", Search("9991234567", "9991234567", 0)),
        ("+7 999", Search("9990000000", "9999999999", 0)),
        ("7999", Search("7999000000", "7999999999", 7999)),
        ("8 999 123 45 67", Search("9991234567", "9991234567", 89991234567)),
        ("0999", Search("0999000000", "0999999999", 0)),
        ("123456789012", Search("1", "0", 123456789012)),
        ("9" * 20, Search("1", "0", 0)),
    ],
)
def test_a_query_is_a_phone_prefix_and_maybe_an_id(q: str, expected: Search) -> None:
    assert parse_search(q) == expected


@pytest.mark.parametrize("q", [None, "", "   ", "()", "+7"])
def test_an_empty_query_lists_everyone(q: str | None) -> None:
    assert parse_search(q) is None


@pytest.mark.parametrize("q", ["alice", "999a", "٩٩٩", "1" * 65, "99.9"])
def test_anything_else_is_an_invalid_query(q: str) -> None:
    with pytest.raises(InvalidQuery):
        parse_search(q)


def test_user_ids_are_canonical_and_within_int64() -> None:
    assert parse_user_id("1") == 1 and parse_user_id(str(2**63 - 1)) == 2**63 - 1
    for text in ("0", "01", str(2**63), "-1", "1.0", ""):
        assert parse_user_id(text) is None


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    assert decode_cursor(encode_cursor({"a": 5, "r": 0})) == {"a": 5, "r": 0}
    assert decode_cursor(None) is None
    for garbage in ("", "!!!", "WzFd", "x" * 600):
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)


def test_role_dependency_wants_a_valid_token_then_the_role() -> None:
    key = Ed25519PrivateKey.generate()
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    verifier = TokenVerifier(
        keys=StaticKeySource({"keys": [{**jwk, "kid": "k1"}]}), issuer="i", audience="a"
    )
    authenticator = Authenticator(
        verifier=verifier, redis=async_redis_from_url(f"memory://{uuid.uuid4().hex}")
    )
    app = FastAPI()
    install_error_handlers(app)
    admin = role_dependency(lambda _: authenticator, "admin")

    @app.get("/admin")
    async def only_admins(caller: Annotated[Principal, Depends(admin)]) -> int:
        return caller.user_id

    def token(**extra: object) -> str:
        now = int(time.time())
        claims = {"iss": "i", "aud": "a", "sub": "7", "phone": PHONE, "iat": now, "exp": now + 60}
        claims |= {"jti": uuid.uuid4().hex, "typ": "access", "sid": "s1", **extra}
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})

    client = TestClient(app)
    assert client.get("/admin").json()["code"] == "not_authenticated"
    plain = client.get("/admin", headers={"authorization": f"Bearer {token()}"})
    assert (plain.status_code, plain.json()["code"]) == (403, "forbidden")
    other = client.get("/admin", headers={"authorization": f"Bearer {token(roles=['x'])}"})
    assert other.status_code == 403
    admitted = client.get("/admin", headers={"authorization": f"Bearer {token(roles=['admin'])}"})
    assert (admitted.status_code, admitted.json()) == (200, 7)


def otp_store(redis: fakeredis.FakeAsyncRedis, clock: ManualClock, **policy: int) -> OtpStore:
    return OtpStore(redis, secret=b"k", policy=replace(POLICY, **policy), clock=clock)


async def fail(store: OtpStore, times: int, client: str) -> list[Outcome]:
    outcomes = []
    for _ in range(times):
        login_id = await store.login_of(PHONE)
        if login_id is None:
            login_id = (await store.send(phone=PHONE, client=client, code="1234")).login_id
        verification = await store.verify(
            login_id=login_id, phone=PHONE, client=client, code="0000"
        )
        outcomes.append(verification.outcome)
    return outcomes


@pytest.mark.anyio
async def test_an_unlock_clears_every_lockout_counter_and_cap(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = otp_store(redis, clock)
    assert (await store.send(phone=PHONE, client=HERE, code="1234")).outcome is SendOutcome.SENT
    login_id = await store.login_of(PHONE)
    assert login_id is not None
    first = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
    second = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
    assert (first.outcome, second.outcome) == (Outcome.WRONG, Outcome.LOCKED)
    assert second.locked_scope == "client"
    assert await store.lock_seconds_left(phone=PHONE, client=HERE) > 0
    # A failure from elsewhere: its streak is the phone's too.
    login_id = (await store.send(phone=PHONE, client=THERE, code="1234")).login_id
    await store.verify(login_id=login_id, phone=PHONE, client=THERE, code="0000")
    assert (await store.send(phone=PHONE, client=THERE, code="1")).outcome is SendOutcome.WAIT

    await store.unlock(PHONE)

    assert await store.lock_seconds_left(phone=PHONE, client=HERE) == 0
    # Only the phone's logins are left: no lockout, streak, failure, cap or cooldown.
    left = {key for key in await redis.keys("*") if PHONE in key}
    assert left == {
        f"auth:login_of:{PHONE}",
        f"auth:last_login_of:{PHONE}",
    }
    assert (await store.send(phone=PHONE, client=HERE, code="1")).outcome is SendOutcome.SENT


@pytest.mark.anyio
async def test_a_phone_wide_lockout_is_told_and_listed(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = otp_store(
        redis, clock, lockout_failures=3, resend_cooldown_seconds=0, max_sends_per_phone=100
    )
    here, there = await fail(store, 3, HERE), await fail(store, 1, THERE)
    assert (here, there) == ([Outcome.WRONG, Outcome.WRONG, Outcome.LOCKED], [Outcome.LOCKED])
    until = (await store.locked_until([PHONE, "9990000000"]))[PHONE]
    expected = datetime.fromtimestamp(clock.now, UTC) + timedelta(hours=1)
    assert abs(until - expected) < timedelta(seconds=1)
    await store.unlock(PHONE)
    assert await store.locked_until([PHONE]) == {}


@pytest.mark.anyio
async def test_codes_sent_are_counted_per_utc_day_and_an_unsent_one_is_taken_back(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = otp_store(redis, clock)
    today = datetime.fromtimestamp(clock.now, UTC).date()
    sent = await store.send(phone=PHONE, client=HERE, code="1234")
    await store.send(phone="9990000000", client=HERE, code="1234")
    await store.send(phone=PHONE, client=HERE, code="1234")  # the cooldown: not sent
    refused = await store.send(phone="9990000002", client=HERE, code="1234")
    await store.unsend(phone="9990000002", client=HERE, login_id=refused.login_id)
    clock.now += 86_400
    await store.send(phone="9990000003", client=HERE, code="1234")

    counts = await store.sends_per_day([today - timedelta(days=1), today, today + timedelta(1)])

    assert list(counts.values()) == [0, 2, 1]
    assert sent.outcome is SendOutcome.SENT
    ttl = await redis.ttl(f"auth:daily:{today.isoformat()}")
    assert DAILY_STATS_TTL_SECONDS - 10 < ttl <= DAILY_STATS_TTL_SECONDS
