import uuid

import fakeredis
import pytest

from auth_service.otp import LOCK_KEY
from auth_service.ratelimit import SendLimiter

HOUR = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiter(redis: fakeredis.FakeRedis, clock: Clock, **limits: int) -> SendLimiter:
    values = {"cooldown_seconds": 0, "per_phone_per_hour": 5, "per_ip_per_hour": 30, **limits}
    return SendLimiter(redis, clock=clock, **values)


def send(limits: SendLimiter, phone: str = "9991234567", client: str = "203.0.113.7") -> int:
    """0 when allowed, else the Retry-After."""
    reservation = limits.reserve(phone=phone, client=client, send_id=uuid.uuid4().hex)
    return 0 if reservation.allowed else reservation.retry_after


def test_cooldown_between_codes_for_one_phone(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    limits = limiter(redis, clock, cooldown_seconds=60)
    assert send(limits) == 0
    assert 59 <= send(limits) <= 60
    assert send(limits, phone="9990000000") == 0


def test_hourly_cap_per_phone_is_a_sliding_window(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    limits = limiter(redis, clock, per_phone_per_hour=3)
    for minute in range(3):
        clock.now += 60 * minute
        assert send(limits) == 0
    # The first of the three was sent 3 minutes ago: its slot frees 57 minutes from now.
    assert send(limits) == HOUR - 3 * 60
    clock.now += HOUR - 3 * 60
    assert send(limits) == 0
    assert send(limits) > 0


def test_hourly_cap_per_client(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    limits = limiter(redis, clock, per_ip_per_hour=2)
    assert send(limits, phone="9990000001") == 0
    assert send(limits, phone="9990000002") == 0
    assert send(limits, phone="9990000003") == HOUR
    assert send(limits, phone="9990000003", client="198.51.100.1") == 0


def test_refused_requests_are_not_counted(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    limits = limiter(redis, clock, per_phone_per_hour=1)
    assert send(limits) == 0
    clock.now += 1800
    for _ in range(10):
        assert send(limits) == 1800
    clock.now += 1800
    assert send(limits) == 0


def test_the_longest_wait_of_several_limits_is_reported(
    redis: fakeredis.FakeRedis, clock: Clock
) -> None:
    limits = limiter(redis, clock, cooldown_seconds=60, per_phone_per_hour=1)
    assert send(limits) == 0
    assert send(limits) == HOUR


def test_a_locked_phone_gets_the_lock_time(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    redis.set(LOCK_KEY.format(phone="9991234567"), "1", ex=1234)
    reservation = limiter(redis, clock).reserve(
        phone="9991234567", client="203.0.113.7", send_id="x"
    )
    assert (reservation.allowed, reservation.locked, reservation.retry_after) == (False, True, 1234)


def test_every_key_expires(redis: fakeredis.FakeRedis, clock: Clock) -> None:
    send(limiter(redis, clock, cooldown_seconds=60))
    keys = redis.keys("*")
    assert len(keys) == 3 and all(key.startswith("auth:") for key in keys)
    assert all(0 < redis.ttl(key) <= HOUR for key in keys)
