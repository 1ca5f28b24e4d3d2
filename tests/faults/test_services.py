"""A service killed, a storm of failures, a stop with requests in flight: the platform goes on."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from testkit.servers import answers, serving_after, uvicorn_pid
from tests.faults.conftest import (
    Figures,
    Postgres,
    RedisServer,
    Stack,
    Traffic,
    User,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("victim", ["auth", "referral", "profile"])
def test_a_killed_service_is_back_within_10_s_while_the_others_answer(
    stack: Stack, users: list[User], victim: str, figures: Figures
) -> None:
    others = [name for name in ("auth", "referral", "profile") if name != victim]
    with Traffic(stack.url, users[:40]):
        time.sleep(0.5)
        killed = uvicorn_pid(stack.ports[victim])
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        # The gateway and the others never stop answering.
        while not serving_after(stack.ports[victim], {killed}):
            assert answers(f"{stack.url}/number_input/")
            for name in others:
                assert answers(f"{stack.service_url(name)}/healthz"), name
            assert time.monotonic() - killed_at < 10, f"{victim} is not back"
            time.sleep(0.2)
        back_in = time.monotonic() - killed_at

    with httpx.Client(base_url=stack.url, timeout=10) as client:
        wait_for(
            lambda: (
                client.get("/profile/api_profile/", headers=users[45].headers).status_code == 200
            ),
            timeout=5,
        )
    assert f"{victim} exited with status -9; restarting it" in stack.output()
    figures.record(
        f"{victim} killed (kill -9) under load",
        f"back in {back_in:.1f} s; the gateway, the pages and the other services answered "
        "throughout",
    )


def test_the_profile_answers_again_after_a_storm_of_failures(
    stack: Stack, users: list[User], figures: Figures
) -> None:
    storm = {"Authorization": "Bearer aaa.bbb.ccc"}

    def garbage(_: int) -> int:
        with httpx.Client(base_url=stack.url, timeout=10) as client:
            return client.get("/profile/api_profile/", headers=storm).status_code

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(garbage, range(400))) == {401}

    # Referral goes away while profiles that must be rebuilt keep coming, four at a time.
    killed = uvicorn_pid(stack.ports["referral"])
    os.kill(killed, signal.SIGKILL)

    def rebuild(index: int) -> int:
        user = users[index % len(users)]
        with httpx.Client(base_url=stack.url, timeout=10) as client:
            client.post(
                "/referral_system/api_invite_code_activation/",
                json={"invite_code": "Zz9Zz9"},
                headers=user.headers,
            )  # a refusal changes nothing: the stored profile stays
            return client.get("/profile/api_profile/", headers=user.headers).status_code

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(rebuild, range(200)))

    wait_for(lambda: serving_after(stack.ports["referral"], {killed}) is not None, timeout=10)
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        late = users[-1]
        client.post(
            "/referral_system/api_invite_code_activation/",
            json={"invite_code": users[0].invite_code},
            headers=late.headers,
        )  # invalidates both profiles: they must be rebuilt from referral
        rebuilt = wait_for(
            lambda: client.get("/profile/api_profile/", headers=late.headers).status_code == 200,
            timeout=2,
        )
        profile = client.get("/profile/api_profile/", headers=users[0].headers).json()
    assert late.user_id in {user["id"] for user in profile["invited_users"]}
    figures.record(
        "400 requests with a garbage token, then referral killed during 200 profile rebuilds",
        f"every garbage request 401; a rebuilt profile 200 {rebuilt:.2f} s after referral was back",
    )


def test_sigterm_lets_every_request_in_flight_finish(
    servers: tuple[Postgres, RedisServer], stack: Stack, users: list[User], figures: Figures
) -> None:
    postgres, _ = servers
    inviter, waiting = users[0], users[1:9]
    engine = create_engine(postgres.url("referral"))
    holder = engine.connect()
    try:
        # Each activation waits for its user's lock, held here: the requests are in flight.
        for user in waiting:
            holder.execute(text("SELECT pg_advisory_lock(:user)"), {"user": user.user_id})
        results: dict[int, int] = {}

        def activate(user: User) -> None:
            with httpx.Client(base_url=stack.url, timeout=30) as client:
                response = client.post(
                    "/referral_system/api_invite_code_activation/",
                    json={"invite_code": inviter.invite_code},
                    headers=user.headers,
                )
            results[user.user_id] = response.status_code

        threads = [threading.Thread(target=activate, args=(user,)) for user in waiting]
        for thread in threads:
            thread.start()
        wait_for(
            lambda: (
                postgres.scalar(
                    "referral",
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                )
                == len(waiting)
            ),
            timeout=10,
        )
        stack.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        time.sleep(1)  # the stack is draining: nothing new gets in, nothing in flight is cut
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        for thread in threads:
            thread.join(timeout=30)
    finally:
        holder.close()
        engine.dispose()

    assert results == {user.user_id: 200 for user in waiting}
    assert stack.process.wait(timeout=60) == 0
    figures.record(
        f"SIGTERM to `make stack` with {len(waiting)} activations in flight",
        f"all {len(waiting)} answered 200; the stack was down "
        f"{time.monotonic() - signalled_at:.1f} s after the signal",
    )
    assert not answers(f"{stack.url}/number_input/")
