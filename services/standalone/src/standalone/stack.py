"""`python -m standalone.stack` (what `make stack` runs): the microservices topology, natively.

nginx on $GATEWAY_PORT in front of three uvicorn processes, against the PostgreSQL and Redis
that AUTH_DATABASE_URL, REFERRAL_DATABASE_URL and REDIS_URL name (local defaults; missing
databases are created). Runs in the foreground; Ctrl-C or SIGTERM stops every child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from common.migrations import ensure_postgres_database
from common.processes import stop_process_group, wait_until_healthy
from standalone.app import FRONTEND_DIR, var_dir
from standalone.nginx import (
    DEFAULT_LOGIN_BURST,
    DEFAULT_LOGIN_RATE,
    nginx_command,
    render_native_config,
)

LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"


# uvicorn workers per service on a 2-core machine, chosen with `make bench` (bench/README.md).
DEFAULT_WORKERS = {"auth": 1, "referral": 1, "profile": 1}


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    workers: int = 1

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def services_from_env(env: Mapping[str, str]) -> list[Service]:
    """The three services; `{NAME}_WORKERS` (else STACK_WORKERS) sets each one's workers."""

    def workers(name: str) -> int:
        fallback = env.get("STACK_WORKERS", str(DEFAULT_WORKERS[name]))
        return int(env.get(f"{name.upper()}_WORKERS", fallback))

    return [
        Service("auth", "auth_service.main", int(env.get("AUTH_PORT", "8001")), workers("auth")),
        Service(
            "referral",
            "referral_service.main",
            int(env.get("REFERRAL_PORT", "8002")),
            workers("referral"),
        ),
        Service(
            "profile",
            "profile_service.main",
            int(env.get("PROFILE_PORT", "8003")),
            workers("profile"),
        ),
    ]


def stack_environment(
    env: Mapping[str, str], services: list[Service], state: Path
) -> dict[str, str]:
    """What every service process gets: the caller's environment over the stack's defaults."""
    auth, referral, _ = services
    defaults = {
        "APP_ENV": "development",
        "AUTH_DATABASE_URL": f"{LOCAL_POSTGRES}/auth",
        "REFERRAL_DATABASE_URL": f"{LOCAL_POSTGRES}/referral",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUTH_SERVICE_URL": f"http://{auth.address}",
        "REFERRAL_SERVICE_URL": f"http://{referral.address}",
        "DEV_SMS_INBOX": "true",
        "COOKIE_SECURE": "false",
        "SMS_BACKEND": "console",
        "JWT_PRIVATE_KEY_FILE": str(state / "jwt-ed25519.pem"),
        "JWT_GENERATE_KEY_IF_MISSING": "true",
        # The gateway is the only proxy whose X-Forwarded-For the auth service believes.
        "TRUSTED_PROXIES": '["127.0.0.1/32", "::1/128"]',
    }
    return {**os.environ, **defaults, **env}


@contextmanager
def child(args: list[str], *, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped with its group when the block ends."""
    process = subprocess.Popen(args, env=dict(env), start_new_session=True)
    try:
        yield process
    finally:
        stop_process_group(process)


def uvicorn_command(service: Service) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"{service.module}:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(service.port),
        "--workers",
        str(service.workers),
        "--no-access-log",
    ]


def run(
    env: Mapping[str, str],
    *,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Start the stack, block until `stop` is set, then stop it.

    Returns the exit status: 0 when asked to stop, 1 when a child died on its own.
    """
    state = Path(env.get("VAR_DIR", var_dir())) / "stack"
    state.mkdir(parents=True, exist_ok=True)
    services = services_from_env(env)
    service_env = stack_environment(env, services, state)
    for url_var in ("AUTH_DATABASE_URL", "REFERRAL_DATABASE_URL"):
        ensure_postgres_database(service_env[url_var])
    gateway_port = int(env.get("GATEWAY_PORT", "8080"))
    stop = stop or threading.Event()

    with ExitStack() as stack:
        # The services start side by side; nginx comes last, in front of services that answer.
        children = {
            service.name: stack.enter_context(child(uvicorn_command(service), env=service_env))
            for service in services
        }
        for service, process in zip(services, children.values(), strict=True):
            wait_until_healthy(f"http://{service.address}/healthz", process=process, timeout=90)
        auth, referral, profile = services
        config = render_native_config(
            workdir=state / "nginx",
            listen_port=gateway_port,
            auth=auth.address,
            referral=referral.address,
            profile=profile.address,
            frontend_root=FRONTEND_DIR,
            login_rate=env.get("GATEWAY_LOGIN_RATE", DEFAULT_LOGIN_RATE),
            login_burst=int(env.get("GATEWAY_LOGIN_BURST", DEFAULT_LOGIN_BURST)),
        )
        nginx = stack.enter_context(child(nginx_command(config, state / "nginx"), env=service_env))
        children["nginx"] = nginx
        wait_until_healthy(
            f"http://127.0.0.1:{gateway_port}/number_input/", process=nginx, timeout=30
        )
        print(f"Referral platform (microservices) on http://127.0.0.1:{gateway_port}/", flush=True)
        if ready is not None:
            ready.set()
        status = 0
        while not stop.wait(1.0):
            exited = [name for name, c in children.items() if c.poll() is not None]
            if exited:
                print(f"{exited[0]} exited on its own; stopping the rest", flush=True)
                status = 1
                break
    print("stack stopped", flush=True)
    return status


def main() -> None:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        print(f"received {signal.Signals(signum).name}, stopping", flush=True)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    sys.exit(run(dict(os.environ), stop=stop))


if __name__ == "__main__":
    main()
