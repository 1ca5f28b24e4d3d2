"""One black-box suite, run against both modes: the single process and the native stack.

Tests get `base_url` and speak HTTP to it; nothing here imports service code. The per-IP send
limits are raised for the run (one client IP creates hundreds of users) and the resend cooldown
shortened; the tests of the limits use the per-phone ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext

from testkit.plugin import free_port
from tests.e2e.client import sign_in
from tests.e2e.modes import REPO_ROOT, running_single, running_stack
from tests.e2e.pages import DESKTOP, Person

ARTIFACTS = REPO_ROOT / "artifacts"

RESEND_COOLDOWN_SECONDS = 2
# The operator of both runs (tests.e2e.test_admin_*); no other test signs this phone in.
ADMIN_PHONE = "9990000777"
RUN_SETTINGS = {
    "OTP_MAX_PER_IP_PER_HOUR": "100000",
    # Short enough that a test can sign the same phone in twice, long enough to be observed.
    "OTP_RESEND_COOLDOWN_SECONDS": str(RESEND_COOLDOWN_SECONDS),
    "GATEWAY_LOGIN_RATE": "1000r/s",
    "GATEWAY_LOGIN_BURST": "1000",
    "LOG_JSON": "true",
    "APP_ENV": "development",
    "ADMIN_PHONES": ADMIN_PHONE,
}
MODES = ["single", "stack"]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _single(tmp: Path, logs: Path) -> Iterator[str]:
    port = free_port()
    with running_single(RUN_SETTINGS, port=port, var_dir=tmp / "var", log_path=logs / "single.log"):
        yield f"http://127.0.0.1:{port}"


def _stack(tmp: Path, logs: Path) -> Iterator[str]:
    with running_stack(
        RUN_SETTINGS, prefix="e2e", var_dir=tmp / "var", log_path=logs / "stack.log"
    ) as url:
        yield url


@pytest.fixture(scope="session", params=MODES)
def base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[str]:
    """The root URL of a running system, in each mode in turn."""
    mode = request.param
    tmp = tmp_path_factory.mktemp(mode)
    logs = artifacts_dir / "logs"
    logs.mkdir(exist_ok=True)
    start = _single if mode == "single" else _stack
    yield from start(tmp, logs)


@pytest.fixture
def mode(base_url: str, request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["base_url"])


class Operator:
    """The run's operator, signed in once per mode (the per-phone send caps allow a few
    sign-ins an hour); its access token is renewed before it could expire."""

    RENEW_AFTER_SECONDS = 300

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        with httpx.Client(base_url=base_url, timeout=10) as client:
            self.session = sign_in(client, ADMIN_PHONE)
        self.signed_at = time.monotonic()

    @property
    def user_id(self) -> int:
        return self.session.user_id

    @property
    def headers(self) -> dict[str, str]:
        if time.monotonic() - self.signed_at > self.RENEW_AFTER_SECONDS:
            with httpx.Client(base_url=self.base_url, timeout=10) as client:
                response = client.post(
                    "/authentication/api_token_refresh/",
                    json={"refresh_token": self.session.refresh_token},
                )
            assert response.status_code == 200, response.text
            body = response.json()
            self.session.access_token = body["access_token"]
            self.session.refresh_token = body["refresh_token"]
            self.signed_at = time.monotonic()
        return self.session.headers


@pytest.fixture(scope="session")
def operator(base_url: str) -> Operator:
    """The user whose phone is in ADMIN_PHONES, signed in through the API."""
    return Operator(base_url)


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client of the system under test."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
def open_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """new(**options): a browser profile of its own (Russian, desktop unless told otherwise)."""
    contexts: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        context = browser.new_context(**{"viewport": DESKTOP, "locale": "ru-RU", **options})
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


@pytest.fixture
def person(open_context: Callable[..., BrowserContext], base_url: str) -> Person:
    """Someone in a browser profile of their own."""
    return Person(open_context(), base_url)


@pytest.fixture
def screenshots(artifacts_dir: Path, mode: str) -> Path:
    """The folder for the screenshots of this run mode."""
    folder = artifacts_dir / "screenshots" / mode
    folder.mkdir(parents=True, exist_ok=True)
    return folder
