"""Redis restarted or stalled: security state survives a restart, a stall costs bounded 503s."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.faults.conftest import Figures, Postgres, RedisServer, Stack, User, wait_for

pytestmark = pytest.mark.e2e

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"


def test_sessions_revocations_and_lockouts_survive_a_redis_crash(
    servers: tuple[Postgres, RedisServer], stack: Stack, users: list[User], figures: Figures
) -> None:
    _, redis = servers
    signed_in, logged_out, locked = users[0], users[1], users[2]
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        assert (
            client.post("/authentication/api_logout/", headers=logged_out.headers).status_code
            == 204
        )
        # Ten wrong codes in a row from one address lock that address out of the phone.
        for _ in range(4):
            client.post(NUMBER_INPUT, json={"phone": locked.phone})
            for _ in range(3):
                client.post(OTP_INPUT, json={"otp": "0000", "phone": locked.phone})
        assert client.post(NUMBER_INPUT, json={"phone": locked.phone}).status_code == 429

        redis.kill()  # kill -9: only what the append-only file holds comes back
        redis.start()
        back = wait_for(
            lambda: (
                client.get("/profile/api_profile/", headers=signed_in.headers).status_code == 200
            ),
            timeout=10,
        )

        refreshed = client.post(
            "/authentication/api_token_refresh/", json={"refresh_token": signed_in.refresh_token}
        )
        assert refreshed.status_code == 200, refreshed.text
        revoked = client.get("/profile/api_profile/", headers=logged_out.headers)
        assert revoked.status_code == 401
        gone = client.post(
            "/authentication/api_token_refresh/", json={"refresh_token": logged_out.refresh_token}
        )
        assert gone.status_code == 401
        still_locked = client.post(NUMBER_INPUT, json={"phone": locked.phone})
        assert still_locked.status_code == 429
        assert int(still_locked.headers["retry-after"]) > 3000
    figures.record(
        "Redis killed (kill -9) and started again",
        f"profiles 200 again {back:.1f} s after it started; sessions, logouts and lockouts kept",
    )


def test_a_stalled_redis_costs_bounded_503s_and_then_nothing(
    servers: tuple[Postgres, RedisServer], stack: Stack, users: list[User], figures: Figures
) -> None:
    _, redis = servers
    stalled = threading.Thread(target=lambda: redis.client().execute_command("DEBUG", "SLEEP", 5))
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        stalled.start()
        time.sleep(0.2)
        started = time.monotonic()
        during = client.get("/profile/api_profile/", headers=users[0].headers)
        took = time.monotonic() - started
        stalled.join(timeout=30)
        after = client.get("/profile/api_profile/", headers=users[0].headers)

    assert during.status_code == 503 and took < 4, (during.status_code, took)
    assert during.json()["code"] == "service_unavailable"
    assert after.status_code == 200
    figures.record(
        "Redis stalled for 5 s (`DEBUG SLEEP`)",
        f"503 `service_unavailable` after {took:.1f} s; 200 as soon as it answers again",
    )
