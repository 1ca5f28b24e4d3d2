"""Who the client is behind proxies, for the per-client limits and counts of every service.

A service believes `X-Forwarded-For` only from the peers in its `TRUSTED_PROXIES` (the
gateway); a service reached directly is its own edge and uses the TCP peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

Network = IPv4Network | IPv6Network

# Enough for any real proxy chain; the rest of a long header is client-written anyway.
_MAX_FORWARDED_HOPS = 20


def parse_networks(value: Any) -> Any:
    """TRUSTED_PROXIES as a settings validator (`mode="before"`) reads it: a JSON list or a
    comma-separated string of networks; a bare address is a /32 or /128."""
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
        value = [item.strip() for item in items if str(item).strip()]
    if isinstance(value, list | tuple):
        return tuple(ip_network(item, strict=False) for item in value)
    return value


def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's IP: the right-most X-Forwarded-For hop not added by a trusted proxy.

    X-Forwarded-For is read only when the direct peer is a trusted proxy; everything left
    of the first untrusted hop was written by the client and is ignored.
    """
    if peer is None:
        return "unknown"
    peer_address = _parse_address(peer)
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    client = peer_address
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        address = _parse_address(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def is_trusted_peer(peer: str | None, trusted: tuple[Network, ...]) -> bool:
    """Whether the direct peer is a trusted proxy, whose X-Forwarded-* headers are believed."""
    address = _parse_address(peer) if peer is not None else None
    return address is not None and _is_trusted(address, trusted)


def rate_limit_subject(client: str) -> str:
    """One IPv6 host usually holds a whole /64, so the /64 is what gets counted."""
    address = _parse_address(client)
    if not isinstance(address, IPv6Address):
        return client
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(IPv6Network((address, 64), strict=False))
