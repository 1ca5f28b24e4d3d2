"""PostgreSQL restarted, killed and stalled under load: clients see 503s in the contract's shape
for as long as it lasts, then 200s again, and nothing acknowledged is lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.faults.conftest import (
    Answer,
    Figures,
    Postgres,
    RedisServer,
    Stack,
    Traffic,
    User,
    activated_in_database,
    assert_only_outage_answers,
)

pytestmark = pytest.mark.e2e

# After the database is back, the first success comes within this.
RECOVERY_SECONDS = 2.0


def activate(base_url: str, user: User, invite_code: str) -> Answer:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        started = time.monotonic()
        response = client.post(
            "/referral_system/api_invite_code_activation/",
            json={"invite_code": invite_code},
            headers=user.headers,
        )
        return Answer(
            "activation",
            user.user_id,
            started,
            time.monotonic(),
            response.status_code,
            response.json(),
        )


def recovered_within(traffic: Traffic, back_at: float) -> float:
    """Seconds from `back_at` until a request started after it succeeded."""
    after = [a for a in traffic.answers if a.started >= back_at]
    first = min((a.ended for a in after if a.status == 200), default=float("inf"))
    return first - back_at


@pytest.mark.parametrize("fault", ["restart -m fast", "kill -9 of the postmaster"])
def test_the_database_going_away_under_load_costs_only_503s_and_loses_nothing(
    servers: tuple[Postgres, RedisServer],
    stack: Stack,
    users: list[User],
    fault: str,
    figures: Figures,
) -> None:
    postgres, _ = servers
    with Traffic(stack.url, users) as traffic:
        time.sleep(1)
        if fault == "restart -m fast":
            postgres.restart("fast")
        else:
            postgres.kill()
            time.sleep(0.5)
            postgres.start()
        back_at = time.monotonic()
        time.sleep(RECOVERY_SECONDS + 1)

    assert_only_outage_answers(traffic.answers)
    recovered = recovered_within(traffic, back_at)
    assert recovered <= RECOVERY_SECONDS
    acknowledged = traffic.acknowledged_activations()
    assert acknowledged, "no activation went through"
    assert acknowledged <= activated_in_database(postgres)
    refused = sum(answer.status == 503 for answer in traffic.answers)
    figures.record(
        f"PostgreSQL {fault}",
        f"{refused} of {len(traffic.answers)} requests 503 while it was down; the first 200 "
        f"{recovered:.2f} s after it was back; every acknowledged activation stored",
    )


def test_the_first_request_after_a_quiet_restart_succeeds(
    servers: tuple[Postgres, RedisServer], stack: Stack, users: list[User], figures: Figures
) -> None:
    postgres, _ = servers
    inviter, joiner, reader = users[0], users[1], users[2]
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        postgres.restart("fast")
        # Each service's pool holds connections to the server that is gone.
        activation = client.post(
            "/referral_system/api_invite_code_activation/",
            json={"invite_code": inviter.invite_code},
            headers=joiner.headers,
        )
        sent = client.post("/authentication/api_number_input/", json={"phone": reader.phone})
        code = client.get("/authentication/api_dev_sms/", params={"phone": reader.phone})
        login = client.post(
            "/authentication/api_otp_input/",
            json={"otp": code.json()["code"], "login_id": sent.json()["login_id"]},
        )
    assert activation.status_code == 200, activation.text
    assert login.status_code == 200, login.text
    figures.record(
        "PostgreSQL restarted while idle", "the first activation and sign-in after it: 200"
    )


def test_a_stalled_database_is_refused_in_bounded_time_and_commits_nothing_it_refused(
    servers: tuple[Postgres, RedisServer], stack: Stack, users: list[User], figures: Figures
) -> None:
    postgres, _ = servers
    inviter, background, during = users[0], users[:40], users[40:50]
    with Traffic(stack.url, background) as traffic, ThreadPoolExecutor(len(during)) as pool:
        time.sleep(1)
        postgres.stall()
        stalled_at = time.monotonic()
        tries = [pool.submit(activate, stack.url, user, inviter.invite_code) for user in during]
        time.sleep(6)
        postgres.resume()
        answers = [attempt.result(timeout=30) for attempt in tries]
        time.sleep(2)

    # Nobody waited much longer than the gateway's 5 s for a service.
    longest = max(a.ended - a.started for a in [*traffic.answers, *answers])
    assert longest < 6.5
    assert_only_outage_answers([*traffic.answers, *answers])
    refused = {a.user for a in answers if a.status == 503 and a.started >= stalled_at}
    assert refused == {user.user_id for user in during}
    time.sleep(1)  # anything the resumed server still had would be committed by now
    activated = activated_in_database(postgres)
    assert not refused & activated, "an activation answered 503 was committed"
    assert traffic.acknowledged_activations() <= activated
    # "Try again" is safe: each refused activation goes through now, once.
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        for user in during:
            response = client.post(
                "/referral_system/api_invite_code_activation/",
                json={"invite_code": inviter.invite_code},
                headers=user.headers,
            )
            assert response.status_code == 200, response.text
    figures.record(
        "PostgreSQL stalled for 6 s (SIGSTOP)",
        f"503 `service_unavailable` within {longest:.1f} s at most; none of the "
        f"{len(refused)} refused activations committed; each went through on a retry",
    )
