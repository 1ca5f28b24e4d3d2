"""Calls between the services: the caller's token and request id go along, a refusal comes back
as the caller's, anything unusable is 503, and a pool that stops answering while the service is
fine is replaced, not kept until a restart."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import BaseModel

from common.errors import NotAuthenticated
from common.logging import request_id_var
from common.upstream import STUCK_AFTER, Upstream, UpstreamUnavailable

DOCUMENT = {"user_id": 1, "invite_code": "5L7opy"}


class Document(BaseModel):
    user_id: int
    invite_code: str


class Referral(Upstream):
    def __init__(self, make_http: object) -> None:
        super().__init__("referral", make_http)  # type: ignore[arg-type]

    async def document(self, *, token: str) -> Document:
        return self.parse(Document, await self.call("GET", "/internal/document", token=token))


def referral(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/healthz":
        return httpx.Response(200, json={"status": "ok"})
    return httpx.Response(200, content=json.dumps(DOCUMENT).encode())


def stuck(request: httpx.Request) -> httpx.Response:
    # What a pool whose connections are all leaked does: no connection ever comes free.
    raise httpx.PoolTimeout("no connection came free", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def clients(*handlers: object) -> list[httpx.AsyncClient]:
    return [
        httpx.AsyncClient(base_url="http://referral", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
        for handler in handlers
    ]


async def failures(client: Referral, count: int) -> int:
    failed = 0
    for _ in range(count):
        try:
            await client.document(token="t")
        except UpstreamUnavailable:
            failed += 1
    return failed


def test_a_stuck_pool_is_replaced_once_referral_is_seen_answering() -> None:
    made = iter(clients(stuck, referral, referral))
    client = Referral(lambda: next(made))

    async def scenario() -> None:
        assert await failures(client, STUCK_AFTER) == STUCK_AFTER
        # The pool was inspected (a fresh client found referral answering) and replaced.
        document = await client.document(token="t")
        assert document.invite_code == "5L7opy"
        await client.aclose()

    asyncio.run(scenario())


def test_a_pool_is_kept_while_referral_itself_is_down() -> None:
    made = iter(clients(refused, refused, referral))
    client = Referral(lambda: next(made))

    async def scenario() -> None:
        assert await failures(client, STUCK_AFTER + 5) == STUCK_AFTER + 5
        with pytest.raises(UpstreamUnavailable):
            await client.document(token="t")
        await client.aclose()

    asyncio.run(scenario())


def test_a_success_starts_the_count_again() -> None:
    flaky_calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal flaky_calls
        flaky_calls += 1
        if flaky_calls % STUCK_AFTER == 0:
            return referral(request)
        return stuck(request)

    made = iter(clients(flaky))
    client = Referral(lambda: next(made))

    async def scenario() -> None:
        # Never STUCK_AFTER failures in a row: no inspection, so no second client is made.
        for _ in range(3):
            await failures(client, STUCK_AFTER)
        await client.aclose()

    asyncio.run(scenario())


def one_client(handler: object) -> Referral:
    (http,) = clients(handler)
    return Referral(lambda: http)


def raised_by_a_call(client: Referral) -> Exception:
    """What one call raises; a call that answers fails the test."""

    async def call() -> Exception:
        try:
            await client.document(token="t")
        except Exception as raised:
            return raised
        finally:
            await client.aclose()
        raise AssertionError("the call answered")

    return asyncio.run(call())


def test_a_call_carries_the_callers_token_and_request_id() -> None:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return referral(request)

    client = one_client(recording)

    async def scenario() -> None:
        request_id_var.set("req-42")
        assert (await client.document(token="the.callers.token")).user_id == 1
        await client.aclose()

    asyncio.run(scenario())
    (request,) = seen
    assert request.headers["authorization"] == "Bearer the.callers.token"
    assert request.headers["x-request-id"] == "req-42"


@pytest.mark.parametrize(
    ("body", "expired"),
    [
        ({"code": "not_authenticated", "detail": "Session ended."}, False),
        ({"code": "not_authenticated", "detail": "Token expired.", "expired": True}, True),
    ],
)
def test_a_refusal_is_the_callers_own(body: dict[str, object], expired: bool) -> None:
    refusal = raised_by_a_call(one_client(lambda request: httpx.Response(401, json=body)))

    assert isinstance(refusal, NotAuthenticated)
    assert refusal.detail == body["detail"] and refusal.status_code == 401
    assert ("expired" in refusal.extra) is expired


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"code": "internal_error"}),
        httpx.Response(404, json={"code": "not_found"}),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"user_id": "1", "invite_code": "5L7opy"}),  # strict: no coercion
        httpx.Response(200, json={"user_id": 1}),
    ],
)
def test_anything_but_a_well_formed_200_is_unavailable(answer: httpx.Response) -> None:
    failure = raised_by_a_call(one_client(lambda request: answer))

    assert isinstance(failure, UpstreamUnavailable)
    assert failure.status_code == 503 and failure.code == "upstream_unavailable"
    assert failure.reason.startswith("/internal/document")
    assert failure.detail == "The referral service is unavailable; try again shortly."
