"""Wrong codes are capped per client address, across phones: one address cannot keep guessing at
other people's pending sign-ins, while everyone else goes on signing in."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

OTP_INPUT = "/authentication/api_otp_input/"
CAP = 4


def test_an_address_over_the_cap_gets_429_for_every_phone_and_others_do_not(
    make_client: Callable[..., TestClient], flow_for: Callable[[TestClient], Any]
) -> None:
    settings = {"otp_max_verify_failures_per_ip_per_hour": CAP, "otp_resend_cooldown_seconds": 0}
    guesser = flow_for(make_client(peer="198.51.100.7", **settings))
    phones = [f"99900001{index:02d}" for index in range(CAP + 1)]
    answers = []
    for phone in phones:
        guesser.request_code(phone)
        wrong = guesser.wrong(guesser.read_code(phone))
        answers.append(guesser.client.post(OTP_INPUT, json={"otp": wrong, "phone": phone}))

    assert [answer.status_code for answer in answers] == [400] * CAP + [429]
    refused = answers[-1]
    assert refused.json()["code"] == "too_many_requests"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # Even the right code is refused from that address now; the phone itself is not locked.
    phone = phones[-1]
    right = guesser.client.post(OTP_INPUT, json={"otp": guesser.read_code(phone), "phone": phone})
    assert right.status_code == 429
    other = flow_for(make_client(peer="203.0.113.9", **settings))
    assert other.sign_in(phone)["user"]["phone"] == phone
