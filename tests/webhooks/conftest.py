"""Webhooks end to end: the real run modes and the real delivery workers, sending to a real
receiver (`testkit.webhook_receiver`) that checks every signature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.plugin import free_port
from testkit.webhook_receiver import WebhookReceiver, new_secret
from tests.e2e.modes import REPO_ROOT, running_single, running_stack

LOGS = REPO_ROOT / "artifacts" / "logs" / "webhooks"
SECRET = new_secret()
# Short retries, so that a receiver that comes back is reached within the test.
WEBHOOK_SETTINGS = {
    "WEBHOOK_SECRET": SECRET,
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_RETRY_MAX_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
}
# The stack's worker ports, for tests that find and kill a worker.
STACK_WORKER_PORTS: dict[str, int] = {}
RUN_SETTINGS = {
    "OTP_MAX_PER_IP_PER_HOUR": "100000",
    "GATEWAY_LOGIN_RATE": "1000r/s",
    "GATEWAY_LOGIN_BURST": "1000",
    "APP_ENV": "development",
}


@pytest.fixture(scope="session")
def logs() -> Path:
    LOGS.mkdir(parents=True, exist_ok=True)
    return LOGS


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def single(
    receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory, logs: Path
) -> Iterator[str]:
    """`make run`'s process, delivering its own events (WEBHOOK_DELIVERY's default)."""
    port = free_port()
    settings = {**RUN_SETTINGS, **WEBHOOK_SETTINGS, "WEBHOOK_URL": receiver.url}
    var_dir = tmp_path_factory.mktemp("single") / "var"
    with running_single(settings, port=port, var_dir=var_dir, log_path=logs / "single.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(
    receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory, logs: Path
) -> Iterator[str]:
    """`make stack` with WEBHOOK_URL set: the services write, two worker processes deliver."""
    settings = {
        **RUN_SETTINGS,
        **WEBHOOK_SETTINGS,
        "WEBHOOK_URL": receiver.url,
        "AUTH_WEBHOOKS_PORT": str(STACK_WORKER_PORTS.setdefault("auth", free_port())),
        "REFERRAL_WEBHOOKS_PORT": str(STACK_WORKER_PORTS.setdefault("referral", free_port())),
        "STACK_WORKERS": "1",
    }
    var_dir = tmp_path_factory.mktemp("stack") / "var"
    with running_stack(settings, prefix="wh", var_dir=var_dir, log_path=logs / "stack.log") as url:
        yield url


@pytest.fixture(params=["single", "stack"])
def base_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))
