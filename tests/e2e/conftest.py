"""One black-box suite, run against both modes: the single process and the native stack.

Tests get `base_url` and speak HTTP to it; nothing here imports service code. The per-IP send
limits are raised for the run (one client IP creates hundreds of users) and the resend cooldown
shortened; the tests of the limits use the per-phone ones.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from common.redis import redis_from_url
from testkit.plugin import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    POSTGRES_URL,
    drop_test_database,
    free_port,
)
from testkit.servers import running_process
from tests.e2e.client import sign_in

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/11")

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
    env = {**RUN_SETTINGS, "PORT": str(port), "VAR_DIR": str(tmp / "var")}
    with running_process(
        [sys.executable, "-m", "runmodes"],
        env=env,
        cwd=REPO_ROOT,
        health_url=f"http://127.0.0.1:{port}/number_input/",
        log_path=logs / "single.log",
    ):
        yield f"http://127.0.0.1:{port}"


def _stack(tmp: Path, logs: Path) -> Iterator[str]:
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("the stack needs PostgreSQL and Redis")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("the stack needs nginx")
    suffix = uuid.uuid4().hex[:8]
    databases = {name: f"e2e_{name}_{suffix}" for name in ("auth", "referral")}
    redis_from_url(E2E_REDIS_URL).flushdb()
    gateway = free_port()
    env = {
        **RUN_SETTINGS,
        "GATEWAY_PORT": str(gateway),
        "AUTH_PORT": str(free_port()),
        "REFERRAL_PORT": str(free_port()),
        "PROFILE_PORT": str(free_port()),
        "VAR_DIR": str(tmp / "var"),
        "REDIS_URL": E2E_REDIS_URL,
        "AUTH_DATABASE_URL": _database_url(databases["auth"]),
        "REFERRAL_DATABASE_URL": _database_url(databases["referral"]),
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
            drop_test_database(_database_url(name))


def _database_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


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
