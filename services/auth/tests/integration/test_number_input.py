from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

NUMBER_INPUT = "/authentication/api_number_input/"
PHONE = "9991234567"


def test_a_code_is_sent_and_the_login_named(client: TestClient) -> None:
    response = client.post(NUMBER_INPUT, json={"phone": "+7 (999) 123-45-67"})
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "phone": PHONE,
        "login_id": body["login_id"],
        "otp_length": 4,
        "expires_in": 300,
        "resend_in": 60,
    }
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"login_id={body['login_id']};")
    for attribute in ("HttpOnly", "Max-Age=300", "Path=/authentication/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie


def test_number_is_an_alias_of_phone(client: TestClient) -> None:
    response = client.post(NUMBER_INPUT, json={"number": "8 999 123 45 67"})
    assert response.status_code == 200
    assert response.json()["phone"] == PHONE


def test_cookies_are_secure_unless_switched_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cookie_secure=True)
    response = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert "Secure" in response.headers["set-cookie"]


def test_configured_lengths_and_times_are_reported(make_client: Callable[..., TestClient]) -> None:
    client = make_client(otp_length=6, otp_ttl_seconds=120, otp_resend_cooldown_seconds=30)
    body = client.post(NUMBER_INPUT, json={"phone": PHONE}).json()
    assert (body["otp_length"], body["expires_in"], body["resend_in"]) == (6, 120, 30)
    code = client.get("/authentication/api_dev_sms/", params={"phone": PHONE}).json()["code"]
    assert len(code) == 6 and code.isdigit()


def test_registered_and_unknown_phones_get_the_same_answer(
    make_client: Callable[..., TestClient], flow_for: Callable[[TestClient], Any]
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0)
    flow_for(client).sign_in("9990000001")
    known = client.post(NUMBER_INPUT, json={"phone": "9990000001"})
    unknown = client.post(NUMBER_INPUT, json={"phone": "9990000002"})
    assert known.status_code == unknown.status_code == 200
    assert set(known.json()) == set(unknown.json())
    assert {k: v for k, v in known.json().items() if k not in ("phone", "login_id")} == {
        k: v for k, v in unknown.json().items() if k not in ("phone", "login_id")
    }
    assert known.headers.keys() == unknown.headers.keys()


def test_one_code_per_phone_per_cooldown(client: TestClient) -> None:
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200
    again = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert again.status_code == 429
    assert again.json()["code"] == "too_many_requests"
    assert 55 <= int(again.headers["retry-after"]) <= 60
    assert again.json()["retry_after"] == int(again.headers["retry-after"])
    assert client.post(NUMBER_INPUT, json={"phone": "9990000000"}).status_code == 200


def test_five_codes_per_phone_per_hour(make_client: Callable[..., TestClient]) -> None:
    client = make_client(otp_resend_cooldown_seconds=0)
    for _ in range(5):
        assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200
    sixth = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert sixth.status_code == 429
    assert 3590 <= int(sixth.headers["retry-after"]) <= 3600


def test_client_cap_counts_the_peer_when_it_is_not_a_trusted_proxy(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(peer="198.51.100.1", otp_max_per_ip_per_hour=2)
    statuses = [
        client.post(
            NUMBER_INPUT,
            json={"phone": f"999000000{n}"},
            headers={"x-forwarded-for": f"203.0.113.{n}"},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_client_cap_believes_a_trusted_proxy(make_client: Callable[..., TestClient]) -> None:
    client = make_client(peer="127.0.0.1", otp_max_per_ip_per_hour=2, trusted_proxies="127.0.0.1")

    def send(n: int, forwarded_for: str) -> int:
        response = client.post(
            NUMBER_INPUT,
            json={"phone": f"999000000{n}"},
            headers={"x-forwarded-for": forwarded_for},
        )
        return response.status_code

    # Different clients behind the proxy each have their own allowance...
    assert [send(n, f"203.0.113.{n}") for n in range(3)] == [200, 200, 200]
    # ...and one client cannot escape its cap by writing its own X-Forwarded-For entries.
    assert [send(n, f"10.9.9.{n}, 198.51.100.7") for n in range(3, 6)] == [200, 200, 429]
    capped = client.post(
        NUMBER_INPUT, json={"phone": "9990000009"}, headers={"x-forwarded-for": "198.51.100.7"}
    )
    assert capped.status_code == 429 and int(capped.headers["retry-after"]) > 3500


def test_no_proxy_is_trusted_by_default(make_client: Callable[..., TestClient]) -> None:
    """A service reached directly is its own edge: a forwarder on 127.0.0.1 gains nothing."""
    client = make_client(peer="127.0.0.1", otp_max_per_ip_per_hour=2)
    statuses = [
        client.post(
            NUMBER_INPUT,
            json={"phone": f"999000000{n}"},
            headers={"x-forwarded-for": f"203.0.113.{n}"},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
