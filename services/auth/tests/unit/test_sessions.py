"""Refresh sessions: rotation, the grace for a just-retired token, reuse, revocation."""

import fakeredis
import pytest

from auth_service.sessions import MAX_LISTED_SESSIONS, RefreshRejected, Sessions, SignInBarred
from common.revocation import revoked_session_key
from testkit.clock import ManualClock

pytestmark = pytest.mark.anyio

PHONE = "9991234567"


async def stored(redis: fakeredis.FakeAsyncRedis) -> dict[str, tuple[str, int]]:
    """Every key: (its value as text, its TTL)."""
    contents: dict[str, tuple[str, int]] = {}
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        if kind == "string":
            value = str(await redis.get(key))
        elif kind == "hash":
            value = str(await redis.hgetall(key))
        else:
            value = str(await redis.zrange(key, 0, -1))
        contents[key] = (value, await redis.ttl(key))
    return contents


@pytest.fixture
def sessions(redis: fakeredis.FakeAsyncRedis, clock: ManualClock) -> Sessions:
    return Sessions(redis, ttl_seconds=1000, grace_seconds=10, revocation_seconds=605, clock=clock)


async def test_rotation_hands_out_the_next_token_of_the_session(sessions: Sessions) -> None:
    first = await sessions.start(user_id=7, phone=PHONE, user_agent="test")
    second = await sessions.rotate(first.token)
    assert second.token != first.token
    assert (second.session_id, second.user_id, second.phone) == (first.session_id, 7, PHONE)
    third = await sessions.rotate(second.token)
    assert third.session_id == first.session_id


async def test_the_retired_token_within_the_grace_gets_the_same_successor(
    sessions: Sessions, clock: ManualClock
) -> None:
    first = await sessions.start(user_id=7, phone=PHONE, user_agent="test")
    second = await sessions.rotate(first.token)
    clock.now += 9
    again = await sessions.rotate(first.token)
    assert (again.token, again.session_id) == (second.token, second.session_id)
    # The session goes on from there.
    assert (await sessions.rotate(second.token)).session_id == first.session_id


async def test_the_retired_token_after_the_grace_revokes_the_session(
    sessions: Sessions, clock: ManualClock, redis: fakeredis.FakeAsyncRedis
) -> None:
    first = await sessions.start(user_id=7, phone=PHONE, user_agent="test")
    second = await sessions.rotate(first.token)
    clock.now += 11
    with pytest.raises(RefreshRejected) as reused:
        await sessions.rotate(first.token)
    assert reused.value.reused
    with pytest.raises(RefreshRejected) as after:
        await sessions.rotate(second.token)
    assert not after.value.reused
    assert await redis.ttl(revoked_session_key(first.session_id)) == 605


async def test_an_older_generation_revokes_the_session_even_within_the_grace(
    sessions: Sessions,
) -> None:
    first = await sessions.start(user_id=7, phone=PHONE, user_agent="test")
    second = await sessions.rotate(first.token)
    third = await sessions.rotate(second.token)
    with pytest.raises(RefreshRejected) as reused:
        await sessions.rotate(first.token)
    assert reused.value.reused
    with pytest.raises(RefreshRejected):
        await sessions.rotate(third.token)


async def test_other_sessions_survive_a_revocation(
    sessions: Sessions, redis: fakeredis.FakeAsyncRedis
) -> None:
    mine = await sessions.start(user_id=7, phone=PHONE, user_agent="a")
    other = await sessions.start(user_id=7, phone=PHONE, user_agent="b")
    await sessions.revoke(mine.session_id)
    with pytest.raises(RefreshRejected):
        await sessions.rotate(mine.token)
    assert (await sessions.rotate(other.token)).session_id == other.session_id
    assert await redis.exists(revoked_session_key(mine.session_id))
    assert not await redis.exists(revoked_session_key(other.session_id))
    assert await redis.zrange("auth:user_sessions:7", 0, -1) == [other.session_id]


@pytest.mark.parametrize("token", ["", "unknown", "x" * 10_000])
async def test_unknown_tokens_are_rejected(sessions: Sessions, token: str) -> None:
    with pytest.raises(RefreshRejected):
        await sessions.rotate(token)
    assert await sessions.session_of(token) is None


async def test_only_hashes_are_stored_and_everything_expires(
    sessions: Sessions, redis: fakeredis.FakeAsyncRedis
) -> None:
    issued = await sessions.start(user_id=7, phone=PHONE, user_agent="test")
    rotated = await sessions.rotate(issued.token)
    contents = await stored(redis)
    dump = " ".join(f"{key} {value}" for key, (value, _) in contents.items())
    assert issued.token not in dump and rotated.token not in dump
    assert all(0 < ttl <= 1000 for _, ttl in contents.values())
    assert all(key.startswith("auth:") for key in contents)


async def test_no_session_starts_while_the_user_is_barred(sessions: Sessions) -> None:
    kept = await sessions.start(user_id=1, phone=PHONE, user_agent="ua")
    await sessions.bar_sign_in(1)

    with pytest.raises(SignInBarred):
        await sessions.start(user_id=1, phone=PHONE, user_agent="ua")
    assert [s.id for s in await sessions.of_user(1)] == [kept.session_id]
    # Other users are not barred; lifting the bar lets the user in again.
    await sessions.start(user_id=2, phone="9990000002", user_agent="ua")
    await sessions.lift_sign_in_bar(1)
    again = await sessions.start(user_id=1, phone=PHONE, user_agent="ua")
    assert {s.id for s in await sessions.of_user(1)} == {kept.session_id, again.session_id}


async def test_the_listing_reads_pages_until_it_has_the_newest_live_sessions(
    sessions: Sessions, clock: ManualClock, redis: fakeredis.FakeAsyncRedis
) -> None:
    started = []
    for _ in range(4 * MAX_LISTED_SESSIONS):
        clock.now += 1
        started.append((await sessions.start(user_id=1, phone=PHONE, user_agent="ua")).session_id)
    newest_first = started[::-1]
    # The newest 120 and the oldest 10 end by their TTL (their hashes are gone).
    for sid in newest_first[:120] + newest_first[-10:]:
        await redis.delete(f"auth:session:{sid}")

    listed = [s.id for s in await sessions.of_user(1)]

    assert listed == newest_first[120 : 120 + MAX_LISTED_SESSIONS]
    # The pages read dropped their ended sessions from the index; the oldest page, not needed
    # for the answer, was not read.
    index = await redis.zrevrange("auth:user_sessions:1", 0, -1)
    assert index == newest_first[120:]
