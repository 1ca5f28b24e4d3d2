"""Behind a TLS proxy: deploy/gateway/real-ip.conf, as shipped and as its comment says to fill in.

The gateway hands the services the client address it sees and counts its own login limit by it;
behind a proxy that is the proxy's, unless nginx is told to believe that proxy, and only it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

REAL_IP_CONF = Path(__file__).resolve().parents[2] / "deploy/gateway/real-ip.conf"
LOGIN = "/authentication/api_number_input/"
# The gateway's login limit lets a client this many POSTs at once.
BURST = 20


def documented_directives() -> list[str]:
    """The directives the file's comment shows, with the proxy at 127.0.0.1."""
    directives = re.findall(r"^#\s+(\w+ [^;#]+;)\s*$", REAL_IP_CONF.read_text(), re.MULTILINE)
    assert [d.split()[0] for d in directives] == [
        "set_real_ip_from",
        "real_ip_header",
        "real_ip_recursive",
    ]
    return ["set_real_ip_from 127.0.0.1;", *directives[1:]]


@pytest.fixture(scope="module")
def as_shipped(gateway_factory: Callable[[Callable[[str], str]], object]):
    return gateway_factory(lambda gateway: REAL_IP_CONF.read_text() + gateway)


@pytest.fixture(scope="module")
def behind_proxy(gateway_factory: Callable[[Callable[[str], str]], object]):
    return gateway_factory(lambda gateway: "\n".join(documented_directives()) + "\n" + gateway)


def seen_address(gateway, *, source: str, forwarded_for: str) -> tuple[str, str]:
    with gateway.client(source=source) as client:
        headers = client.get(
            "/profile/api_profile/", headers={"X-Forwarded-For": forwarded_for}
        ).json()["headers"]
    return headers["x-forwarded-for"], headers["x-real-ip"]


def test_as_shipped_no_one_is_believed(as_shipped) -> None:
    assert seen_address(as_shipped, source="127.0.0.1", forwarded_for="203.0.113.7") == (
        "127.0.0.1",
        "127.0.0.1",
    )


def test_the_named_proxy_is_believed_about_its_client(behind_proxy) -> None:
    assert seen_address(behind_proxy, source="127.0.0.1", forwarded_for="203.0.113.7") == (
        "203.0.113.7",
        "203.0.113.7",
    )


def test_a_client_cannot_choose_its_address_through_the_proxy(behind_proxy) -> None:
    """The proxy appends the address it saw; whatever the client put before it is ignored."""
    forwarded = "198.51.100.1, 203.0.113.7"

    assert seen_address(behind_proxy, source="127.0.0.1", forwarded_for=forwarded)[0] == (
        "203.0.113.7"
    )


def test_anyone_else_is_not_believed(behind_proxy) -> None:
    assert seen_address(behind_proxy, source="127.0.0.2", forwarded_for="203.0.113.7") == (
        "127.0.0.2",
        "127.0.0.2",
    )


def test_the_login_limit_counts_each_client_behind_the_proxy(behind_proxy) -> None:
    with behind_proxy.client(source="127.0.0.1") as proxy:
        statuses = [
            proxy.post(LOGIN, json={}, headers={"X-Forwarded-For": "203.0.113.10"}).status_code
            for _ in range(3 * BURST)
        ]
        other = proxy.post(LOGIN, json={}, headers={"X-Forwarded-For": "203.0.113.11"})

    assert 429 in statuses
    assert other.status_code == 200
