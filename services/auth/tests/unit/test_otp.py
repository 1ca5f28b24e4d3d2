"""The OTP scripts on the in-process store (the single-process mode runs them there too)."""

import asyncio
from dataclasses import replace

import fakeredis
import pytest

from auth_service.otp import (
    OtpPolicy,
    OtpStore,
    Outcome,
    SendOutcome,
    generate_code,
    is_well_formed_code,
    looks_like_login_id,
    new_login_id,
)
from testkit.clock import ManualClock

pytestmark = pytest.mark.anyio

PHONE = "9991234567"
HERE, THERE = "203.0.113.7", "198.51.100.1"
HOUR = 3600
POLICY = OtpPolicy(
    ttl_seconds=300,
    max_attempts=3,
    lockout_failures=5,
    lockout_seconds=HOUR,
    lockout_failures_per_phone=12,
    max_verify_failures_per_ip=20,
    resend_cooldown_seconds=0,
    max_sends_per_phone=1000,
    max_sends_per_ip=1000,
)


def store_with(redis: fakeredis.FakeAsyncRedis, clock: ManualClock, **policy: int) -> OtpStore:
    return OtpStore(redis, secret=b"k", policy=replace(POLICY, **policy), clock=clock)


@pytest.fixture
def store(redis: fakeredis.FakeAsyncRedis, clock: ManualClock) -> OtpStore:
    return store_with(redis, clock)


async def stored(redis: fakeredis.FakeAsyncRedis) -> dict[str, tuple[str, int]]:
    """Every key: (its value as text, its TTL)."""
    contents: dict[str, tuple[str, int]] = {}
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        if kind == "string":
            value = str(await redis.get(key))
        elif kind == "hash":
            value = str(await redis.hgetall(key))
        else:
            value = str(await redis.zrange(key, 0, -1))
        contents[key] = (value, await redis.ttl(key))
    return contents


async def sent(store: OtpStore, code: str = "1234", client: str = HERE, phone: str = PHONE) -> str:
    send = await store.send(phone=phone, client=client, code=code)
    assert send.outcome is SendOutcome.SENT, send
    return send.login_id


async def wait(store: OtpStore, phone: str = PHONE, client: str = HERE) -> int:
    """0 when a send is allowed (and made), else its Retry-After."""
    send = await store.send(phone=phone, client=client, code="1234")
    return 0 if send.outcome is SendOutcome.SENT else send.retry_after


async def test_codes_and_login_ids() -> None:
    codes = {generate_code(6) for _ in range(200)}
    assert all(is_well_formed_code(code, 6) for code in codes)
    assert len(codes) > 150
    login_id = new_login_id()
    assert looks_like_login_id(login_id)
    assert not looks_like_login_id(login_id[:-1]) and not looks_like_login_id(login_id[:-1] + "!")
    assert not is_well_formed_code("12\u0663\u0664", 4) and not is_well_formed_code("123", 4)


async def test_only_an_hmac_of_the_code_is_stored_and_every_key_expires(
    store: OtpStore, redis: fakeredis.FakeAsyncRedis
) -> None:
    await sent(store, "4821")
    contents = await stored(redis)
    assert contents and not any("4821" in value for value, _ in contents.values())
    assert all(ttl > 0 for _, ttl in contents.values())
    assert all(key.startswith("auth:") for key in contents)


async def test_the_right_code_signs_in_once(store: OtpStore) -> None:
    login_id = await sent(store)
    assert await store.phone_of(login_id) == PHONE and await store.login_of(PHONE) == login_id
    ok = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    assert (ok.outcome, ok.phone) == (Outcome.OK, PHONE)
    again = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    assert (again.outcome, again.reason) == (Outcome.VOID, "expired")
    assert await store.phone_of(login_id) is None and await store.login_of(PHONE) is None


async def test_wrong_tries_count_down_then_the_code_is_void(store: OtpStore) -> None:
    login_id = await sent(store)
    tries = [
        await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
        for _ in range(3)
    ]
    assert [(v.outcome, v.attempts_left) for v in tries] == [
        (Outcome.WRONG, 2),
        (Outcome.WRONG, 1),
        (Outcome.WRONG, 0),
    ]
    void = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    assert (void.outcome, void.reason) == (Outcome.VOID, "attempts_exhausted")
    # The dead code is no longer the phone's live one.
    assert await store.login_of(PHONE) is None


async def test_a_new_code_voids_the_previous_one(store: OtpStore) -> None:
    old = await sent(store, "1111")
    new = await sent(store, "2222")
    stale = await store.verify(login_id=old, phone=PHONE, client=HERE, code="1111")
    assert stale.outcome is Outcome.VOID
    assert (
        await store.verify(login_id=new, phone=PHONE, client=HERE, code="2222")
    ).outcome is Outcome.OK


async def test_a_code_is_bound_to_its_login(store: OtpStore) -> None:
    login_id = await sent(store, "1234")
    other = new_login_id()
    assert (
        await store.verify(login_id=other, phone=PHONE, client=HERE, code="1234")
    ).outcome is Outcome.VOID
    assert (
        await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    ).outcome is Outcome.OK


async def fail(store: OtpStore, times: int, client: str = HERE) -> list[Outcome]:
    """`times` wrong codes for PHONE from `client`, with new codes as each one dies."""
    outcomes: list[Outcome] = []
    login_id = ""
    for _ in range(times):
        if not login_id or await store.login_of(PHONE) != login_id:
            send = await store.send(phone=PHONE, client=client, code="1234")
            login_id = send.login_id if send.outcome is SendOutcome.SENT else login_id
        result = await store.verify(login_id=login_id, phone=PHONE, client=client, code="0000")
        outcomes.append(result.outcome)
    return outcomes


async def test_a_streak_of_failures_locks_the_phone_for_that_address_only(store: OtpStore) -> None:
    # Failures 1-4 are wrong tries; the 5th (lockout_failures) locks.
    outcomes = await fail(store, 5)
    assert outcomes == [Outcome.WRONG] * 4 + [Outcome.LOCKED]
    assert await store.lock_seconds_left(phone=PHONE, client=HERE) > HOUR - 10
    assert (await store.send(phone=PHONE, client=HERE, code="1")).outcome is SendOutcome.LOCKED
    # The phone's owner, elsewhere, is not locked out by a stranger's guesses.
    assert await store.lock_seconds_left(phone=PHONE, client=THERE) == 0
    login_id = await sent(store, "4321", client=THERE)
    ok = await store.verify(login_id=login_id, phone=PHONE, client=THERE, code="4321")
    assert ok.outcome is Outcome.OK


async def test_failures_from_many_addresses_lock_the_phone_for_everyone(
    store: OtpStore,
) -> None:
    outcomes: list[Outcome] = []
    for address in range(4):  # 3 + 3 + 3 + 3 = 12 = lockout_failures_per_phone
        outcomes += await fail(store, 3, client=f"192.0.2.{address}")
    assert outcomes[-1] is Outcome.LOCKED and Outcome.LOCKED not in outcomes[:-1]
    for client in (HERE, THERE):
        assert await store.lock_seconds_left(phone=PHONE, client=client) > HOUR - 10
        assert (
            await store.send(phone=PHONE, client=client, code="1")
        ).outcome is SendOutcome.LOCKED


async def test_a_success_resets_the_streak(store: OtpStore) -> None:
    for _ in range(3):
        login_id = await sent(store)
        for _ in range(2):
            await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
        ok = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
        assert ok.outcome is Outcome.OK
    assert await store.lock_seconds_left(phone=PHONE, client=HERE) == 0


async def test_wrong_codes_from_one_address_are_capped_across_phones(
    store: OtpStore, clock: ManualClock
) -> None:
    outcomes = []
    for index in range(25):
        phone = f"99900000{index:02d}"
        login_id = await sent(store, phone=phone)
        result = await store.verify(login_id=login_id, phone=phone, client=HERE, code="0000")
        outcomes.append((result.outcome, result.retry_after))
    assert [outcome for outcome, _ in outcomes[:20]] == [Outcome.WRONG] * 20
    assert {outcome for outcome, _ in outcomes[20:]} == {Outcome.LIMITED}
    assert outcomes[-1][1] == HOUR
    # Another address is not affected, and the window slides.
    login_id = await sent(store, phone="9990000099", client=THERE)
    other = await store.verify(login_id=login_id, phone="9990000099", client=THERE, code="0000")
    assert other.outcome is Outcome.WRONG
    clock.now += HOUR
    login_id = await sent(store, phone="9990000098")
    later = await store.verify(login_id=login_id, phone="9990000098", client=HERE, code="0000")
    assert later.outcome is Outcome.WRONG


async def test_the_cooldown_holds_only_while_a_live_code_exists(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = store_with(redis, clock, resend_cooldown_seconds=60)
    login_id = await sent(store)
    assert 59 <= await wait(store) <= 60
    assert await wait(store, phone="9990000000") == 0
    # The code dies of wrong tries: a new one may be asked for at once.
    for _ in range(3):
        await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
    assert await wait(store) == 0


async def test_an_expired_code_can_be_replaced_at_once_and_says_it_expired(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    # Redis keeps its own time: the code really has to run out.
    store = store_with(redis, clock, ttl_seconds=1, resend_cooldown_seconds=60)
    login_id = await sent(store)
    assert await wait(store) > 0
    await asyncio.sleep(1.1)
    assert await store.login_of(PHONE) is None
    assert await store.latest_login_of(PHONE) == login_id
    late = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    assert (late.outcome, late.reason) == (Outcome.VOID, "expired")
    assert await wait(store) == 0


async def test_a_dead_code_is_still_found_by_phone_and_says_why(store: OtpStore) -> None:
    login_id = await sent(store)
    for _ in range(3):
        await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="0000")
    assert await store.login_of(PHONE) is None
    assert await store.latest_login_of(PHONE) == login_id
    void = await store.verify(login_id=login_id, phone=PHONE, client=HERE, code="1234")
    assert (void.outcome, void.reason) == (Outcome.VOID, "attempts_exhausted")
    # A sign-in leaves nothing behind: after it, no login is pending for the phone.
    new = await sent(store)
    assert await store.latest_login_of(PHONE) == new
    ok = await store.verify(login_id=new, phone=PHONE, client=HERE, code="1234")
    assert ok.outcome is Outcome.OK
    assert await store.latest_login_of(PHONE) is None


async def test_hourly_cap_per_phone_is_a_sliding_window(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = store_with(redis, clock, max_sends_per_phone=3)
    for minute in range(3):
        clock.now += 60 * minute
        assert await wait(store) == 0
    # The first of the three was sent 3 minutes ago: its slot frees 57 minutes from now.
    assert await wait(store) == HOUR - 3 * 60
    clock.now += HOUR - 3 * 60
    assert await wait(store) == 0
    assert await wait(store) > 0


async def test_hourly_cap_per_client(redis: fakeredis.FakeAsyncRedis, clock: ManualClock) -> None:
    store = store_with(redis, clock, max_sends_per_ip=2)
    assert await wait(store, phone="9990000001") == 0
    assert await wait(store, phone="9990000002") == 0
    assert await wait(store, phone="9990000003") == HOUR
    assert await wait(store, phone="9990000003", client=THERE) == 0


async def test_refused_sends_are_not_counted(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = store_with(redis, clock, max_sends_per_phone=1)
    assert await wait(store) == 0
    clock.now += 1800
    for _ in range(10):
        assert await wait(store) == 1800
    clock.now += 1800
    assert await wait(store) == 0


async def test_a_send_taken_back_counts_towards_nothing(
    redis: fakeredis.FakeAsyncRedis, clock: ManualClock
) -> None:
    store = store_with(redis, clock, max_sends_per_phone=1, resend_cooldown_seconds=60)
    login_id = await sent(store)
    await store.unsend(phone=PHONE, client=HERE, login_id=login_id)
    assert await store.login_of(PHONE) is None and await store.phone_of(login_id) is None
    assert await store.latest_login_of(PHONE) is None
    assert await wait(store) == 0
