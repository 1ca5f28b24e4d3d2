"""State shared across replicas: each check sends consecutive requests to different processes on
purpose (straight to each replica, not through the gateway's round robin), so a count, a mark or
a lock kept in one process's memory would show."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import cycle

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.client import Session, new_phone, profile, sign_in
from tests.e2e.conftest import RESEND_COOLDOWN_SECONDS
from tests.replicas.conftest import Replicas

pytestmark = pytest.mark.e2e

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
ACTIVATION = "/referral_system/api_invite_code_activation/"
# The services' defaults (not raised for the e2e run).
OTP_MAX_PER_PHONE_PER_HOUR = 5
ACTIVATION_FAILURES_PER_USER_PER_HOUR = 20


@pytest.fixture
def gateway(replicas: Replicas) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=replicas.gateway, timeout=10) as client:
        yield client


@pytest.fixture
def each(replicas: Replicas) -> Iterator[Callable[[str], list[httpx.Client]]]:
    """`each("auth")`: one client per replica of the service, straight to its process."""
    opened: list[httpx.Client] = []

    def clients(service: str) -> list[httpx.Client]:
        made = [httpx.Client(base_url=url, timeout=10) for url in replicas.of(service)]
        opened.extend(made)
        return made

    yield clients
    for client in opened:
        client.close()


def handled(client: httpx.Client, route: str) -> float:
    """How many requests for `route` this process has answered (its own /metrics)."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return sum(
        sample.value
        for family in families
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == route
    )


def test_the_gateway_spreads_every_service_over_both_replicas(
    gateway: httpx.Client, each: Callable[[str], list[httpx.Client]]
) -> None:
    routes = {
        "auth": "/authentication/.well-known/jwks.json",
        "profile": "/profile/api_profile/",
        "referral": "/referral_system/api_invited_users/",
    }
    before = {name: [handled(c, route) for c in each(name)] for name, route in routes.items()}
    session = sign_in(gateway)
    for _ in range(10):
        gateway.get(routes["auth"]).raise_for_status()
        gateway.get(routes["profile"], headers=session.headers).raise_for_status()
        gateway.get(routes["referral"], headers=session.headers).raise_for_status()

    for name, route in routes.items():
        after = [handled(c, route) for c in each(name)]
        served = [now - then for now, then in zip(after, before[name], strict=True)]
        assert all(count > 0 for count in served), f"{name}: requests per replica {served}"


def test_wrong_codes_are_counted_across_replicas(
    each: Callable[[str], list[httpx.Client]],
) -> None:
    first, second = each("auth")
    phone = new_phone()
    sent = first.post(NUMBER_INPUT, json={"phone": phone})
    assert sent.status_code == 200, sent.text
    login_id = sent.json()["login_id"]
    code = second.get("/authentication/api_dev_sms/", params={"phone": phone}).json()["code"]
    wrong = f"{(int(code) + 1) % 10_000:04d}"

    answers = [
        replica.post(OTP_INPUT, json={"otp": wrong, "login_id": login_id})
        for replica in (second, first, second)
    ]

    assert [a.json().get("attempts_left") for a in answers[:2]] == [2, 1], [a.text for a in answers]
    assert answers[2].status_code in (400, 410)
    late = first.post(OTP_INPUT, json={"otp": code, "login_id": login_id})
    assert late.status_code == 410 and late.json()["code"] == "otp_expired", late.text


def test_send_caps_are_counted_across_replicas(
    each: Callable[[str], list[httpx.Client]],
) -> None:
    replicas = each("auth")
    phone = new_phone()
    first = replicas[0].post(NUMBER_INPUT, json={"phone": phone})
    assert first.status_code == 200, first.text
    # The resend cooldown, set by one replica, holds on the other.
    again = replicas[1].post(NUMBER_INPUT, json={"phone": phone})
    assert again.status_code == 429 and again.json()["code"] == "too_many_requests", again.text

    # The hourly cap per phone: the sends alternate replicas, each after the cooldown.
    alternate = cycle(reversed(replicas))
    for _ in range(OTP_MAX_PER_PHONE_PER_HOUR - 1):
        time.sleep(RESEND_COOLDOWN_SECONDS + 0.2)
        sent = next(alternate).post(NUMBER_INPUT, json={"phone": phone})
        assert sent.status_code == 200, sent.text
    time.sleep(RESEND_COOLDOWN_SECONDS + 0.2)
    capped = next(alternate).post(NUMBER_INPUT, json={"phone": phone})
    assert capped.status_code == 429, capped.text
    # Not the cooldown: the wait is the rest of the hour.
    assert int(capped.headers["retry-after"]) > RESEND_COOLDOWN_SECONDS


def test_a_logout_on_one_replica_is_seen_by_every_replica(
    gateway: httpx.Client, each: Callable[[str], list[httpx.Client]]
) -> None:
    session = sign_in(gateway)
    auth = each("auth")
    profiles, referrals = each("profile"), each("referral")
    invited = "/referral_system/api_invited_users/"
    for replica in profiles:
        assert replica.get("/profile/api_profile/", headers=session.headers).status_code == 200
    for replica in referrals:
        assert replica.get(invited, headers=session.headers).status_code == 200

    assert auth[0].post("/authentication/api_logout/", headers=session.headers).status_code == 204

    for replica in profiles:
        refused = replica.get("/profile/api_profile/", headers=session.headers)
        assert refused.status_code == 401, f"{replica.base_url}: {refused.text}"
    for replica in referrals:
        refused = replica.get(invited, headers=session.headers)
        assert refused.status_code == 401, f"{replica.base_url}: {refused.text}"
    refresh = auth[1].post(
        "/authentication/api_token_refresh/", json={"refresh_token": session.refresh_token}
    )
    assert refresh.status_code == 401 and refresh.json()["code"] == "invalid_refresh_token"


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call in its own thread, released together; their answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def activation(client: httpx.Client, session: Session, code: str) -> Callable[[], httpx.Response]:
    return lambda: client.post(ACTIVATION, json={"invite_code": code}, headers=session.headers)


def test_concurrent_activations_over_both_replicas_have_exactly_one_winner(
    gateway: httpx.Client, each: Callable[[str], list[httpx.Client]]
) -> None:
    referrals = each("referral")
    invitee = sign_in(gateway)
    inviters = [sign_in(gateway) for _ in range(8)]
    codes = [profile(gateway, inviter)["invite_code"] for inviter in inviters]

    answers = all_at_once(
        [activation(referrals[i % 2], invitee, code) for i, code in enumerate(codes)]
    )

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 409: 7}, [answer.text for answer in answers]
    [won] = [codes[i] for i, answer in enumerate(answers) if answer.status_code == 200]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {
        "invite_code_already_activated"
    }
    assert profile(gateway, invitee)["activated_invite_code"] == won
    owner = inviters[codes.index(won)]
    assert [u["id"] for u in profile(gateway, owner)["invited_users"]] == [invitee.user_id]


def test_two_users_taking_each_others_codes_on_two_replicas_make_no_cycle(
    gateway: httpx.Client, each: Callable[[str], list[httpx.Client]]
) -> None:
    first, second = each("referral")
    for _ in range(5):
        a, b = sign_in(gateway), sign_in(gateway)
        code_a, code_b = profile(gateway, a)["invite_code"], profile(gateway, b)["invite_code"]

        answers = all_at_once([activation(first, a, code_b), activation(second, b, code_a)])

        assert sorted(answer.status_code for answer in answers) == [200, 409], [
            answer.text for answer in answers
        ]
        [refused] = [answer for answer in answers if answer.status_code == 409]
        assert refused.json()["code"] == "referral_cycle"


def test_refused_activations_are_counted_across_replicas(
    gateway: httpx.Client, each: Callable[[str], list[httpx.Client]]
) -> None:
    session = sign_in(gateway)
    alternate = cycle(each("referral"))
    # One code in 62**6 is drawn: a fixed one is unknown to any run's few hundred users.
    for _ in range(ACTIVATION_FAILURES_PER_USER_PER_HOUR):
        refused = activation(next(alternate), session, "Zz9xYw")()
        assert refused.status_code == 404, refused.text
    capped = activation(next(alternate), session, "Zz9xYw")()
    assert capped.status_code == 429 and capped.json()["code"] == "too_many_requests", capped.text
