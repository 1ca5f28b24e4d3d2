from ipaddress import ip_network

import pytest

from common.client_ip import client_address, is_trusted_peer, parse_networks, rate_limit_subject

TRUSTED = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("198.51.100.9", ["203.0.113.7"], TRUSTED) == "198.51.100.9"


def test_a_trusted_peer_is_believed() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_the_right_most_untrusted_hop_wins_over_client_written_ones() -> None:
    forwarded = ["1.1.1.1, 203.0.113.7, 10.0.0.5"]
    assert client_address("127.0.0.1", forwarded, TRUSTED) == "203.0.113.7"


def test_several_headers_are_one_list() -> None:
    assert client_address("127.0.0.1", ["1.1.1.1", "203.0.113.7"], TRUSTED) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_left_most_is_the_client() -> None:
    assert client_address("127.0.0.1", ["10.0.0.7, 10.0.0.5"], TRUSTED) == "10.0.0.7"


def test_garbage_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert client_address("127.0.0.1", ["<script>, 10.0.0.5"], TRUSTED) == "10.0.0.5"


def test_no_header_from_a_trusted_peer_is_the_peer() -> None:
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"


def test_a_peer_that_is_no_address_is_used_as_is() -> None:
    assert client_address("testclient", ["203.0.113.7"], TRUSTED) == "testclient"
    assert client_address(None, [], TRUSTED) == "unknown"


@pytest.mark.parametrize(
    ("client", "subject"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_rate_limit_subject(client: str, subject: str) -> None:
    assert rate_limit_subject(client) == subject


@pytest.mark.parametrize(
    "value", ['["127.0.0.1/32", "::1"]', "127.0.0.1, ::1/128", ["127.0.0.1", "::1"]]
)
def test_trusted_proxies_as_json_or_comma_separated(value: object) -> None:
    assert parse_networks(value) == (ip_network("127.0.0.1/32"), ip_network("::1/128"))


def test_an_empty_setting_trusts_nobody() -> None:
    assert parse_networks("") == ()


def test_not_a_network_is_refused() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks("not-an-ip")


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [("127.0.0.1", True), ("10.1.2.3", True), ("198.51.100.9", False), ("testclient", False)],
)
def test_is_trusted_peer(peer: str, trusted: bool) -> None:
    assert is_trusted_peer(peer, TRUSTED) is trusted
    assert is_trusted_peer(None, TRUSTED) is False
