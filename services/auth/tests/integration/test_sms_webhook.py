"""SMS_BACKEND=webhook: each code POSTed, signed, to the operator's SMS gateway on a real socket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from testkit.plugin import free_port

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
PHONE = "9991234567"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Receiver:
    """An SMS gateway: records what it receives; answers `status` after `delay` seconds."""

    url: str
    status: int = 200
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(state.delay)
            self.send_response(state.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/sms"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook_client(
    make_client: Callable[..., TestClient], receiver: Receiver
) -> Callable[..., TestClient]:
    def make(**overrides: Any) -> TestClient:
        return make_client(
            sms_backend="webhook",
            sms_webhook_url=overrides.pop("url", receiver.url),
            sms_webhook_secret=SECRET,
            sms_webhook_timeout_seconds=1,
            dev_sms_inbox=False,
            **overrides,
        )

    return make


def test_each_code_is_posted_signed_and_signs_in(
    webhook_client: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = webhook_client()
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200

    [(headers, body)] = receiver.received
    payload = Webhook(SECRET).verify(body, headers)
    assert set(payload) == {"phone", "text", "code", "expires_at"}
    assert payload["phone"] == PHONE and payload["code"] in payload["text"]
    assert payload["expires_at"].endswith("Z")
    assert headers["content-type"] == "application/json"
    # The signature as the spec defines it, computed here without the library.
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60

    response = client.post(OTP_INPUT, json={"otp": payload["code"], "phone": PHONE})
    assert response.status_code == 200


def test_a_tampered_body_does_not_verify(
    webhook_client: Callable[..., TestClient], receiver: Receiver
) -> None:
    webhook_client().post(NUMBER_INPUT, json={"phone": PHONE})
    [(headers, body)] = receiver.received
    forged = json.dumps({**json.loads(body), "phone": "9990000000"}).encode()
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(forged, headers)


@pytest.mark.parametrize("failure", ["down", "500", "slow"])
def test_a_failed_delivery_is_503_and_costs_no_send_quota(
    webhook_client: Callable[..., TestClient], receiver: Receiver, failure: str
) -> None:
    url = receiver.url
    if failure == "down":
        url = f"http://127.0.0.1:{free_port()}/sms"
    elif failure == "500":
        receiver.status = 500
    else:
        receiver.delay = 3  # beyond the 1 s timeout
    client = webhook_client(url=url, otp_max_per_phone_per_hour=1)

    started = time.monotonic()
    response = client.post(NUMBER_INPUT, json={"phone": PHONE})

    assert time.monotonic() - started < 2.5
    assert response.status_code == 503
    assert response.json()["code"] == "sms_unavailable"
    assert client.post(OTP_INPUT, json={"otp": "1234", "phone": PHONE}).status_code == 410

    # The gateway is back: the send that failed took nothing from the hourly cap of one.
    receiver.status, receiver.delay = 200, 0.0
    working = webhook_client(otp_max_per_phone_per_hour=1)
    assert working.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200
