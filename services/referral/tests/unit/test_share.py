import time
from datetime import UTC, datetime

import pytest

from referral_service.share import (
    is_code,
    share_url,
    sign_in_url,
    user_agent,
    visitor_hash,
    window_start,
)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("5L7opy", True),
        ("000000", True),
        ("5L7op", False),
        ("5L7opyx", False),
        ("5L7op!", False),
        ("5L7opy\n", False),
        (" 5L7opy", False),
        ("5L7opé", False),
        ("\uff15L7opy", False),  # a full-width digit
    ],
)
def test_codes_are_the_activations(text: str, valid: bool) -> None:
    assert is_code(text) is valid


def test_urls() -> None:
    assert share_url("https://example.com", "5L7opy") == "https://example.com/i/5L7opy"
    assert sign_in_url("5L7opy") == "/number_input/?invite=5L7opy"
    assert sign_in_url(None) == "/number_input/"


def test_windows_start_on_their_boundary() -> None:
    at = datetime(2026, 12, 1, 9, 44, 59, 999_000, tzinfo=UTC)
    assert window_start(at, 1800) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert window_start(at, 60) == datetime(2026, 12, 1, 9, 44, tzinfo=UTC)
    assert window_start(datetime(2026, 12, 1, 10, tzinfo=UTC), 1800) == datetime(
        2026, 12, 1, 10, tzinfo=UTC
    )


def test_a_visitor_is_its_address_under_the_key() -> None:
    key = b"k" * 32
    assert len(visitor_hash(key, "203.0.113.7")) == 16
    assert visitor_hash(key, "203.0.113.7") != visitor_hash(b"j" * 32, "203.0.113.7")
    assert visitor_hash(key, "203.0.113.7") != visitor_hash(key, "203.0.113.8")
    # One IPv6 host holds a /64; an IPv4-mapped address is its IPv4 address.
    assert visitor_hash(key, "2001:db8::1") == visitor_hash(key, "2001:db8::ffff:1")
    assert visitor_hash(key, "2001:db8::1") != visitor_hash(key, "2001:db8:0:1::1")
    assert visitor_hash(key, "::ffff:203.0.113.7") == visitor_hash(key, "203.0.113.7")


@pytest.mark.parametrize(
    ("header", "family", "crawler"),
    [
        (None, "Other", False),
        ("", "Other", False),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox",
            False,
        ),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "FacebookBot",
            True,
        ),
        ("x" * 100, "Other", False),
    ],
)
def test_user_agents(header: str | None, family: str, crawler: bool) -> None:
    agent = user_agent(header)
    assert (agent.family, agent.crawler) == (family, crawler)


def test_a_huge_user_agent_costs_little() -> None:
    user_agent("warm up")
    started = time.perf_counter()
    for number in range(200):
        agent = user_agent(f"{number}" + "(" * 100_000)
    assert len(agent.family) <= 32
    assert time.perf_counter() - started < 2
