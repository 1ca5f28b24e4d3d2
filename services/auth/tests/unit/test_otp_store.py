"""The OTP scripts on the in-process store (the single-process mode runs them there too)."""

import fakeredis
import pytest

from auth_service.otp import (
    OtpStore,
    Outcome,
    generate_code,
    is_well_formed_code,
    looks_like_login_id,
    new_login_id,
)
from auth_service.sms import DevSmsInbox, SimulatedSms

PHONE = "9991234567"


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def store(redis: fakeredis.FakeRedis) -> OtpStore:
    return OtpStore(
        redis,
        secret=b"k",
        ttl_seconds=300,
        max_attempts=3,
        lockout_failures=5,
        lockout_seconds=3600,
    )


def start(store: OtpStore, code: str = "1234", *, inbox: bool = False) -> str:
    login_id = new_login_id()
    sms = SimulatedSms(phone=PHONE, code=code, text=f"code {code}", sent_at="t") if inbox else None
    store.start(login_id=login_id, phone=PHONE, code=code, sms=sms)
    return login_id


def test_codes_and_login_ids() -> None:
    codes = {generate_code(6) for _ in range(200)}
    assert all(is_well_formed_code(code, 6) for code in codes)
    assert len(codes) > 150
    login_id = new_login_id()
    assert looks_like_login_id(login_id)
    assert not looks_like_login_id(login_id[:-1]) and not looks_like_login_id(login_id[:-1] + "!")
    assert not is_well_formed_code("12\u0663\u0664", 4) and not is_well_formed_code("123", 4)


def test_only_an_hmac_of_the_code_is_stored(store: OtpStore, redis: fakeredis.FakeRedis) -> None:
    start(store, "4821")
    stored = [
        value
        for key in redis.keys("*")
        for value in ([redis.get(key)] if redis.type(key) == "string" else redis.hvals(key))
    ]
    assert stored and not any("4821" in str(value) for value in stored)
    assert all(redis.ttl(key) > 0 for key in redis.keys("*"))
    assert all(key.startswith("auth:") for key in redis.keys("*"))


def test_the_right_code_signs_in_once(store: OtpStore) -> None:
    login_id = start(store)
    assert store.phone_of(login_id) == PHONE and store.login_of(PHONE) == login_id
    assert store.verify(login_id=login_id, phone=PHONE, code="1234").outcome is Outcome.OK
    assert store.verify(login_id=login_id, phone=PHONE, code="1234").outcome is Outcome.EXPIRED
    assert store.phone_of(login_id) is None and store.login_of(PHONE) is None


def test_wrong_tries_count_down_then_the_code_is_void(store: OtpStore) -> None:
    login_id = start(store)
    lefts = [store.verify(login_id=login_id, phone=PHONE, code="0000") for _ in range(3)]
    assert [(v.outcome, v.attempts_left) for v in lefts] == [
        (Outcome.WRONG, 2),
        (Outcome.WRONG, 1),
        (Outcome.WRONG, 0),
    ]
    assert store.verify(login_id=login_id, phone=PHONE, code="1234").outcome is Outcome.EXPIRED


def test_a_new_code_voids_the_previous_one(store: OtpStore) -> None:
    old = start(store, "1111")
    new = start(store, "2222")
    assert store.verify(login_id=old, phone=PHONE, code="1111").outcome is Outcome.EXPIRED
    assert store.verify(login_id=new, phone=PHONE, code="2222").outcome is Outcome.OK


def test_a_code_is_bound_to_its_login(store: OtpStore) -> None:
    login_id = start(store, "1234")
    other = new_login_id()
    assert store.verify(login_id=other, phone=PHONE, code="1234").outcome is Outcome.EXPIRED
    assert store.verify(login_id=login_id, phone=PHONE, code="1234").outcome is Outcome.OK


def test_consecutive_failures_across_codes_lock_the_phone(store: OtpStore) -> None:
    outcomes = []
    for _ in range(2):
        login_id = start(store)
        outcomes += [store.verify(login_id=login_id, phone=PHONE, code="0000") for _ in range(3)]
    # Failures 1-4 are wrong tries; the 5th (lockout_failures) locks.
    assert [v.outcome for v in outcomes[:5]] == [Outcome.WRONG] * 4 + [Outcome.LOCKED]
    assert outcomes[4].retry_after == 3600
    assert store.lock_seconds_left(PHONE) > 3590
    login_id = start(store)
    locked = store.verify(login_id=login_id, phone=PHONE, code="1234")
    assert locked.outcome is Outcome.LOCKED


def test_a_success_resets_the_failure_count(store: OtpStore) -> None:
    for _ in range(2):
        login_id = start(store)
        store.verify(login_id=login_id, phone=PHONE, code="0000")
        store.verify(login_id=login_id, phone=PHONE, code="0000")
        assert store.verify(login_id=login_id, phone=PHONE, code="1234").outcome is Outcome.OK
    assert store.lock_seconds_left(PHONE) == 0


def test_the_inbox_holds_the_current_code_until_it_is_used(
    store: OtpStore, redis: fakeredis.FakeRedis
) -> None:
    inbox = DevSmsInbox(redis)
    start(store, "1111", inbox=True)
    login_id = start(store, "2222", inbox=True)
    sms = inbox.latest(PHONE)
    assert sms is not None and sms.code == "2222"
    store.verify(login_id=login_id, phone=PHONE, code="2222")
    assert inbox.latest(PHONE) is None


def test_the_inbox_entry_goes_when_its_code_is_used_up(
    store: OtpStore, redis: fakeredis.FakeRedis
) -> None:
    inbox = DevSmsInbox(redis)
    login_id = start(store, "1234", inbox=True)
    for _ in range(3):
        store.verify(login_id=login_id, phone=PHONE, code="0000")
    assert inbox.latest(PHONE) is None


def test_voiding_a_login_forgets_it(store: OtpStore, redis: fakeredis.FakeRedis) -> None:
    login_id = start(store, inbox=True)
    store.void(login_id=login_id, phone=PHONE)
    assert redis.keys("auth:login*") == [] and DevSmsInbox(redis).latest(PHONE) is None
