"""The profile service against upstreams on real sockets: healthy, closed, slow, broken."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.profile_documents import document_key
from common.redis import redis_from_url
from testkit.plugin import free_port

PROFILE_URL = "/profile/api_profile/"
# The contract's bound is about 2 s; this leaves room for a loaded machine, not for a second hop.
NEVER_A_HANG = 3.0
REFERRAL_DOCUMENT = {
    "user_id": 1,
    "invite_code": "5L7opy",
    "activated_invite_code": None,
    "invited_users": [],
    "invited_count": 0,
    "invited_users_next": None,
}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request head (GETs carry no body); False when the client closed the connection."""
    try:
        await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    return True


def answering(status: int, body: bytes, content_type: str = "application/json") -> Handler:
    """A keep-alive HTTP/1.1 server giving every request the same answer."""
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader):
            writer.write(head + body)
            await writer.drain()

    return handle


async def never_answering(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.Event().wait()


def answering_after(seconds: float, status: int, body: bytes) -> Handler:
    answer = answering(status, body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        await answer(reader, writer)

    return handle


async def trickling(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Starts an answer, then sends one header byte at a time, each well within a read timeout."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while True:
        await asyncio.sleep(0.2)
        writer.write(b"z")
        await writer.drain()


def closed_port(serve: Callable[[Handler], Any]) -> str:
    return f"http://127.0.0.1:{free_port()}"


def served(handle: Handler) -> Callable[[Callable[[Handler], Any]], str]:
    def url(serve: Callable[[Handler], Any]) -> str:
        return str(serve(handle).url)

    return url


FAILURES = {
    "connection-refused": closed_port,
    "never-answers": served(never_answering),
    "answers-after-5s": served(answering_after(5, 200, json.dumps(REFERRAL_DOCUMENT).encode())),
    "trickles-headers": served(trickling),
    "non-json-200": served(answering(200, b"<html>busy</html>", "text/html")),
    "wrong-shape-200": served(answering(200, b'{"status": "ok"}')),
    "server-error-500": served(answering(500, b'{"detail": "boom"}')),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_broken_referral_is_a_prompt_503(
    make_client: Callable[..., TestClient], serve, bearer, failure: str
) -> None:
    client = make_client(referral_url=FAILURES[failure](serve))

    started = time.monotonic()
    response = client.get(PROFILE_URL, headers=bearer())

    assert time.monotonic() - started < NEVER_A_HANG
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The referral service is unavailable; try again shortly.",
        "code": "upstream_unavailable",
    }


def test_profiles_over_a_socket_reuse_one_connection(
    make_client: Callable[..., TestClient], serve, bearer, redis_url: str
) -> None:
    referral = serve(answering(200, json.dumps(REFERRAL_DOCUMENT).encode()))
    client = make_client(referral_url=referral.url)

    for _ in range(3):
        redis_from_url(redis_url).delete(document_key(1))  # a miss each time
        response = client.get(PROFILE_URL, headers=bearer())
        assert response.status_code == 200
        assert response.json()["invite_code"] == "5L7opy"

    assert referral.connections == 1


def test_readiness_over_sockets(make_client: Callable[..., TestClient]) -> None:
    client = make_client(referral_url=f"http://127.0.0.1:{free_port()}")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"redis": "ok", "referral": "unavailable"}
