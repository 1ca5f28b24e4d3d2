"""Redis clients; `memory://NAME` gives an in-process Redis-compatible store (fakeredis,
installed by the `common[memory]` extra: the single process and the tests have it, images do not).

Clients made from the same `memory://NAME` share one store, so services composed in one
process see each other's keys exactly as they would on a shared Redis server. The services
use the asyncio client; the synchronous one is for tooling (tests, the benchmark).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

if TYPE_CHECKING:
    import fakeredis

_memory_servers: dict[str, fakeredis.FakeServer] = {}
_memory_lock = threading.Lock()

# A Redis that does not answer within this is treated as down (503), not waited for.
SOCKET_TIMEOUT_SECONDS = 2.0


def is_memory_url(url: str) -> bool:
    return url.startswith("memory://")


def _memory_server(url: str) -> fakeredis.FakeServer:
    # Imported only here: fakeredis (and what it pulls in) costs every service process about
    # 16 MB that only the single-process mode and the tests need, and only they install it.
    try:
        import fakeredis
    except ImportError as error:
        raise RuntimeError(
            f"{url} needs the in-process store, which is not installed: "
            "install the `common[memory]` extra, or point REDIS_URL at a Redis server"
        ) from error

    name = urlsplit(url).netloc or "default"
    with _memory_lock:
        return _memory_servers.setdefault(name, fakeredis.FakeServer())


def _options(retry: type[Retry] | type[AsyncRetry]) -> dict[str, Any]:
    return {
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        "health_check_interval": 30,
        # After a Redis restart every pooled connection is dead: a command that finds its
        # connection closed is sent once more on a new one, so the first request after the
        # restart does not fail. A timeout (a stalled Redis) is not retried: it is a 503.
        "retry": retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    }


def redis_from_url(url: str) -> Redis:
    """A synchronous client that decodes replies to `str`."""
    if is_memory_url(url):
        server = _memory_server(url)
        import fakeredis

        return fakeredis.FakeRedis(server=server, decode_responses=True)
    return Redis.from_url(url, decode_responses=True, **_options(Retry))


def async_redis_from_url(url: str, *, decode_responses: bool = True) -> AsyncRedis:
    """An asyncio client; `decode_responses=False` keeps replies as bytes (documents)."""
    if is_memory_url(url):
        server = _memory_server(url)
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=server, decode_responses=decode_responses)
    return AsyncRedis.from_url(url, decode_responses=decode_responses, **_options(AsyncRetry))
