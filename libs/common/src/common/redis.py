"""Redis clients; `memory://NAME` gives an in-process Redis-compatible store (fakeredis).

Clients made from the same `memory://NAME` share one store, so services composed in one
process see each other's keys exactly as they would on a shared Redis server.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from redis import Redis

if TYPE_CHECKING:
    import fakeredis

_memory_servers: dict[str, fakeredis.FakeServer] = {}
_memory_lock = threading.Lock()


def is_memory_url(url: str) -> bool:
    return url.startswith("memory://")


def redis_from_url(url: str) -> Redis:
    if is_memory_url(url):
        # Imported only here: fakeredis (and what it pulls in) costs every service process
        # about 16 MB that only the single-process mode and the tests need.
        import fakeredis

        name = urlsplit(url).netloc or "default"
        with _memory_lock:
            server = _memory_servers.setdefault(name, fakeredis.FakeServer())
        return fakeredis.FakeRedis(server=server, decode_responses=True)
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
    )
