"""Two replicas of every service, natively: what a Kubernetes Deployment with `replicas: 2` runs.

Two uvicorn processes per service on distinct ports, one nginx in front with both in each
upstream (gateway_config.render lists them), all sharing one PostgreSQL database per service
and one Redis. Nothing else is shared: no file, no process memory. The signing key is made
before the start and given to both auth replicas, as a Kubernetes Secret would be.

Referral and profile find the JWK Set through the gateway, which balances over both auth
replicas, as a Kubernetes Service would; each profile replica calls the other index's referral
replica, so a profile document is built by one process and served by another.

`base_url` is the gateway: the end-to-end API suite (tests/e2e/test_api.py) runs against it
unchanged. `replicas` also gives each process's own URL, for the checks that send consecutive
requests to different replicas on purpose.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from auth_service.jwt_keys import generate_key_file
from common.migrations import ensure_postgres_database
from common.redis import redis_from_url
from gateway_config.render import nginx_command, render_native_config
from testkit.plugin import HAVE_POSTGRES, HAVE_REDIS, drop_test_database, free_port
from testkit.servers import running_process, uvicorn_command
from tests.e2e.conftest import RUN_SETTINGS
from tests.e2e.modes import database_url

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
# Not the e2e suite's database (11): both suites may run in one session.
REPLICAS_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/15")
REPLICAS = 2
SERVICES = ("auth", "referral", "profile")


@dataclass(frozen=True)
class Replicas:
    """The running system: the gateway's URL and every service process's own."""

    gateway: str
    urls: dict[str, list[str]]
    redis_url: str

    def of(self, service: str) -> list[str]:
        return self.urls[service]


def enter_together(stack: ExitStack, contexts: list[AbstractContextManager[object]]) -> None:
    """Enter every context at once (each waits for its process to be healthy); each one that
    was entered is left by `stack`, also when another failed."""
    with ThreadPoolExecutor(max_workers=len(contexts)) as pool:
        entered = [(context, pool.submit(context.__enter__)) for context in contexts]
    for context, future in entered:
        if future.exception() is None:
            stack.push(context.__exit__)
    for _, future in entered:
        future.result()


@pytest.fixture(scope="session")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("two replicas share a real PostgreSQL and Redis")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("the replicas' gateway needs nginx")
    tmp = tmp_path_factory.mktemp("replicas")
    logs = ARTIFACTS / "logs" / "replicas"
    logs.mkdir(parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:8]
    databases = {name: database_url(f"replicas_{name}_{suffix}") for name in ("auth", "referral")}
    redis_from_url(REPLICAS_REDIS_URL).flushdb()
    key_file = tmp / "jwt-ed25519.pem"
    generate_key_file(key_file)

    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    ports = {name: [free_port() for _ in range(REPLICAS)] for name in SERVICES}
    urls = {name: [f"http://127.0.0.1:{port}" for port in ports[name]] for name in SERVICES}
    common_env = {
        **RUN_SETTINGS,
        "REDIS_URL": REPLICAS_REDIS_URL,
        "AUTH_DATABASE_URL": databases["auth"],
        "REFERRAL_DATABASE_URL": databases["referral"],
        "DEV_SMS_INBOX": "true",
        "COOKIE_SECURE": "false",
        "SMS_BACKEND": "console",
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "JWT_GENERATE_KEY_IF_MISSING": "false",
        "TRUSTED_PROXIES": '["127.0.0.1/32", "::1/128"]',
        # The JWK Set through the gateway: both auth replicas answer it.
        "AUTH_SERVICE_URL": gateway,
        "JWKS_URL": f"{gateway}/authentication/.well-known/jwks.json",
        "DB_POOL_SIZE": "5",
    }
    try:
        for url in databases.values():
            ensure_postgres_database(url)
        with ExitStack() as stack:
            # Every process starts at once: both replicas of a service run its migrations at
            # the same moment, and the advisory lock lets one of them do it.
            processes = []
            for name in SERVICES:
                for index, port in enumerate(ports[name]):
                    env = dict(common_env)
                    if name == "profile":
                        other = urls["referral"][(index + 1) % REPLICAS]
                        env["REFERRAL_SERVICE_URL"] = other
                    processes.append(
                        running_process(
                            uvicorn_command(f"{name}_service.main:create_app", port=port),
                            env=env,
                            cwd=REPO_ROOT,
                            health_url=f"http://127.0.0.1:{port}/healthz",
                            log_path=logs / f"{name}-{index + 1}.log",
                            timeout=120,
                        )
                    )
            enter_together(stack, processes)
            config = render_native_config(
                workdir=tmp / "nginx",
                listen_port=gateway_port,
                auth=[f"127.0.0.1:{port}" for port in ports["auth"]],
                referral=[f"127.0.0.1:{port}" for port in ports["referral"]],
                profile=[f"127.0.0.1:{port}" for port in ports["profile"]],
                frontend_root=REPO_ROOT / "frontend",
                login_rate=RUN_SETTINGS["GATEWAY_LOGIN_RATE"],
                login_burst=int(RUN_SETTINGS["GATEWAY_LOGIN_BURST"]),
            )
            stack.enter_context(
                running_process(
                    nginx_command(config, tmp / "nginx"),
                    health_url=f"{gateway}/number_input/",
                    log_path=logs / "nginx.log",
                    timeout=30,
                )
            )
            yield Replicas(gateway=gateway, urls=urls, redis_url=REPLICAS_REDIS_URL)
    finally:
        for url in databases.values():
            drop_test_database(url)


@pytest.fixture(scope="session")
def base_url(replicas: Replicas) -> str:
    """The gateway in front of the replicas, for the end-to-end API suite."""
    return replicas.gateway
