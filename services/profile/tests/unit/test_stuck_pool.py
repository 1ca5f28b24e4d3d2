"""A pool that stops answering while referral is fine is replaced, not kept until a restart."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from profile_service.clients import STUCK_AFTER, ReferralClient, UpstreamUnavailable

DOCUMENT = {
    "user_id": 1,
    "invite_code": "5L7opy",
    "activated_invite_code": None,
    "invited_users": [],
    "invited_count": 0,
    "invited_users_next": None,
}


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


async def failures(client: ReferralClient, count: int) -> int:
    failed = 0
    for _ in range(count):
        try:
            await client.profile_document(token="t")
        except UpstreamUnavailable:
            failed += 1
    return failed


def test_a_stuck_pool_is_replaced_once_referral_is_seen_answering() -> None:
    made = iter(clients(stuck, referral, referral))
    client = ReferralClient(lambda: next(made))

    async def scenario() -> None:
        assert await failures(client, STUCK_AFTER) == STUCK_AFTER
        # The pool was inspected (a fresh client found referral answering) and replaced.
        document = await client.profile_document(token="t")
        assert document.invite_code == "5L7opy"
        await client.aclose()

    asyncio.run(scenario())


def test_a_pool_is_kept_while_referral_itself_is_down() -> None:
    made = iter(clients(refused, refused, referral))
    client = ReferralClient(lambda: next(made))

    async def scenario() -> None:
        assert await failures(client, STUCK_AFTER + 5) == STUCK_AFTER + 5
        with pytest.raises(UpstreamUnavailable):
            await client.profile_document(token="t")
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
    client = ReferralClient(lambda: next(made))

    async def scenario() -> None:
        # Never STUCK_AFTER failures in a row: no inspection, so no second client is made.
        for _ in range(3):
            await failures(client, STUCK_AFTER)
        await client.aclose()

    asyncio.run(scenario())
