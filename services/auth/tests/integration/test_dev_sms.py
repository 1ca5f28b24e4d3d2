from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.redis import redis_from_url

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
DEV_SMS = "/authentication/api_dev_sms/"
PHONE = "9991234567"


def test_the_latest_sms_of_a_phone(client: TestClient) -> None:
    client.post(NUMBER_INPUT, json={"phone": PHONE})
    response = client.get(DEV_SMS, params={"phone": "+7 999 123 45 67"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"phone", "code", "text", "sent_at"}
    assert body["phone"] == PHONE and len(body["code"]) == 4 and body["code"] in body["text"]
    assert body["sent_at"].endswith("Z")
    assert response.headers["cache-control"] == "no-store"


def test_the_code_is_in_the_inbox_and_nowhere_in_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        client.post(NUMBER_INPUT, json={"phone": PHONE})
    code = client.get(DEV_SMS, params={"phone": PHONE}).json()["code"]

    logged = [record.getMessage() for record in caplog.records]
    assert any(line == f"simulated SMS to {PHONE}; its code is in the dev inbox" for line in logged)
    assert not [line for line in logged if code in line.replace(PHONE, "")]


def test_nothing_sent_is_no_sms(client: TestClient) -> None:
    response = client.get(DEV_SMS, params={"phone": PHONE})
    assert response.status_code == 404 and response.json()["code"] == "no_sms"


def test_a_used_code_leaves_the_inbox(client: TestClient, flow: Any) -> None:
    flow.sign_in()
    assert client.get(DEV_SMS, params={"phone": PHONE}).json()["code"] == "no_sms"


@pytest.mark.parametrize("params", [{}, {"phone": "12"}, {"phone": "\u0669" * 10}])
def test_a_malformed_phone_is_invalid_phone(client: TestClient, params: dict[str, str]) -> None:
    response = client.get(DEV_SMS, params=params)
    assert response.status_code == 422 and response.json()["code"] == "invalid_phone"


def test_the_inbox_is_off_unless_enabled(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture, redis_url: str
) -> None:
    client = make_client(dev_sms_inbox=False)
    with caplog.at_level("INFO", logger="auth_service.sms"):
        assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200
    response = client.get(DEV_SMS, params={"phone": PHONE})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "/authentication/api_dev_sms/" not in client.get("/openapi.json").json()["paths"]
    # The console backend still "delivers" the message: its address to the log, never its code.
    (record,) = [r for r in caplog.records if r.getMessage().startswith("simulated SMS to ")]
    assert record.sms_to == PHONE  # type: ignore[attr-defined]
    assert PHONE in record.getMessage() and "no dev inbox" in record.getMessage()
    assert "Код" not in record.getMessage()
    assert redis_from_url(redis_url).keys("auth:dev_sms:*") == []
