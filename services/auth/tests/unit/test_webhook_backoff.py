"""The delivery schedule of common.outbox: backoff with jitter, and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from common.outbox import backoff_seconds, parse_retry_after

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 10, 100, 10_000])
def test_the_backoff_doubles_up_to_the_cap_with_jitter_within_the_upper_half(attempts: int) -> None:
    rng = random.Random(attempts)
    nominal = min(60.0, 5.0 * 2 ** min(attempts - 1, 62))
    delays = [backoff_seconds(attempts, base=5, cap=60, rng=rng) for _ in range(200)]

    assert all(nominal / 2 <= delay <= nominal for delay in delays)
    assert len(set(delays)) > 100  # jittered, not one fixed value


def test_the_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = sorted(backoff_seconds(3, base=1, cap=100, rng=rng) for _ in range(1000))
    assert delays[0] < 2.2 and delays[-1] > 3.8


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Tue, 01 Dec 2026 12:00:30 GMT", 30.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),  # already past
    ],
)
def test_retry_after_as_seconds_or_an_http_date(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2026"])
def test_an_absent_or_invalid_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None
