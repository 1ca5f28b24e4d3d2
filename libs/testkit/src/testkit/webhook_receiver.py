"""A webhook receiver for tests: a real HTTP server that records each POST and checks its
Standard Webhooks signature with the spec's own library, as a customer's endpoint would.

    with WebhookReceiver(secret) as receiver:
        ...  # point WEBHOOK_URL at receiver.url
        receiver.wait_for(lambda r: len(r.events("user.registered")) == 1)

It can be stopped and started again on the same port (a receiver that is down for a while),
and told what to answer next (`answer_next(429, {"Retry-After": "1"})`) or always (`status`).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived, and what was made of it."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    verified: bool
    status: int  # what the receiver answered
    at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class WebhookReceiver:
    def __init__(self, secret: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.host = host
        self.port = port
        # What every request is answered with, unless `answer_next` queued something else.
        self.status = 200
        self.headers: dict[str, str] = {}
        # Seconds each answer takes (a slow receiver).
        self.delay = 0.0
        self._queued: deque[tuple[int, dict[str, str]]] = deque()
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhooks"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WebhookReceiver:
        """Listen (again) on the same port; the first start picks a free one if port was 0."""
        assert self._server is None, "already running"
        server = ThreadingHTTPServer((self.host, self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket: new connections are refused until `start`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def answer_next(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next request (after those already queued) with `status` and `headers`."""
        with self._lock:
            self._queued.append((status, dict(headers or {})))

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted(self) -> list[Received]:
        """Requests answered 2xx whose signature verified."""
        return [r for r in self.received if r.verified and 200 <= r.status < 300]

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The payloads accepted, one per webhook-id (a redelivery is not a second event)."""
        seen: dict[str, dict[str, Any]] = {}
        for request in self.accepted():
            payload = request.payload()
            if event_type is None or payload.get("type") == event_type:
                seen.setdefault(request.webhook_id, payload)
        return list(seen.values())

    def wait_for(
        self, condition: Callable[[WebhookReceiver], bool], *, timeout: float = 30
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver: condition not met in {timeout} s: {self.received}")
            time.sleep(0.05)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                with receiver._lock:
                    if receiver._queued:
                        status, extra = receiver._queued.popleft()
                    else:
                        status, extra = receiver.status, dict(receiver.headers)
                    receiver._received.append(
                        Received(self.path, headers, body, verified, status, time.monotonic())
                    )
                time.sleep(receiver.delay)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
