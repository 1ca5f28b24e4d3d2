"""Webhooks end to end: the real run modes and the real delivery workers, sending to a real
receiver (`testkit.webhook_receiver`) that checks every signature."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from common.redis import redis_from_url
from testkit.plugin import HAVE_POSTGRES, HAVE_REDIS, POSTGRES_URL, drop_test_database, free_port
from testkit.servers import running_process
from testkit.webhook_receiver import WebhookReceiver, new_secret

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGS = REPO_ROOT / "artifacts" / "logs" / "webhooks"
E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/11")
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


def database_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


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
    env = {
        **RUN_SETTINGS,
        **WEBHOOK_SETTINGS,
        "WEBHOOK_URL": receiver.url,
        "PORT": str(port),
        "VAR_DIR": str(tmp_path_factory.mktemp("single") / "var"),
    }
    with running_process(
        [sys.executable, "-m", "runmodes"],
        env=env,
        cwd=REPO_ROOT,
        health_url=f"http://127.0.0.1:{port}/number_input/",
        log_path=logs / "single.log",
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(
    receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory, logs: Path
) -> Iterator[str]:
    """`make stack` with WEBHOOK_URL set: the services write, two worker processes deliver."""
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("the stack needs PostgreSQL and Redis")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("the stack needs nginx")
    suffix = uuid.uuid4().hex[:8]
    databases = {name: f"wh_{name}_{suffix}" for name in ("auth", "referral")}
    redis_from_url(E2E_REDIS_URL).flushdb()
    gateway = free_port()
    env = {
        **RUN_SETTINGS,
        **WEBHOOK_SETTINGS,
        "WEBHOOK_URL": receiver.url,
        "GATEWAY_PORT": str(gateway),
        "AUTH_PORT": str(free_port()),
        "REFERRAL_PORT": str(free_port()),
        "PROFILE_PORT": str(free_port()),
        "AUTH_WEBHOOKS_PORT": str(STACK_WORKER_PORTS.setdefault("auth", free_port())),
        "REFERRAL_WEBHOOKS_PORT": str(STACK_WORKER_PORTS.setdefault("referral", free_port())),
        "STACK_WORKERS": "1",
        "VAR_DIR": str(tmp_path_factory.mktemp("stack") / "var"),
        "REDIS_URL": E2E_REDIS_URL,
        "AUTH_DATABASE_URL": database_url(databases["auth"]),
        "REFERRAL_DATABASE_URL": database_url(databases["referral"]),
    }
    try:
        with running_process(
            [sys.executable, "-m", "runmodes.stack"],
            env=env,
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{gateway}/number_input/",
            log_path=logs / "stack.log",
            timeout=120,
        ):
            yield f"http://127.0.0.1:{gateway}"
    finally:
        for name in databases.values():
            drop_test_database(database_url(name))


@pytest.fixture(params=["single", "stack"])
def base_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))
