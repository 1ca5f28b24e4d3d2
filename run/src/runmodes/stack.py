"""`python -m runmodes.stack` (what `make stack` runs): the microservices topology, natively.

nginx on $GATEWAY_PORT in front of three uvicorn processes, against the PostgreSQL and Redis
that AUTH_DATABASE_URL, REFERRAL_DATABASE_URL and REDIS_URL name (local defaults; missing
databases are created). It is a supervisor, as docker compose's `restart: unless-stopped` is:
a child that dies is started again with a growing delay while the others keep serving, and the
stack gives up only when one keeps failing. SIGTERM or Ctrl-C drains it: the gateway stops
accepting and finishes what it has in flight, then the services stop.

With WEBHOOK_URL set, the services only write their webhook events (WEBHOOK_DELIVERY=worker)
and two more supervised children deliver them: `python -m auth_service.webhook_worker` and
`python -m referral_service.webhook_worker`, their /healthz and /metrics on AUTH_WEBHOOKS_PORT
and REFERRAL_WEBHOOKS_PORT (8091, 8092).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from auth_service.config import AuthSettings
from common.migrations import ensure_postgres_database
from common.processes import stop_process_group, wait_until_healthy
from gateway_config.render import (
    DEFAULT_LOGIN_BURST,
    DEFAULT_LOGIN_RATE,
    nginx_command,
    render_native_config,
)
from profile_service.config import ProfileSettings
from referral_service.config import ReferralSettings
from runmodes.settings import RunSettings

LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
# uvicorn workers per service on a 2-core machine, chosen with `make bench` (bench/README.md).
DEFAULT_WORKERS = {"auth": 2, "referral": 2, "profile": 2}
# A request the gateway accepted is finished within this when the stack stops (the gateway's
# own upstream timeouts are shorter).
DRAIN_SECONDS = 15
# Restarts of one child: the delay doubles from the first to the last, and this many exits
# within the window mean it cannot run; the stack then stops with a failure.
FIRST_RESTART_DELAY = 0.5
LAST_RESTART_DELAY = 8.0
RESTARTS_ALLOWED = 5
RESTART_WINDOW_SECONDS = 60.0
SETTINGS = {"auth": AuthSettings, "referral": ReferralSettings, "profile": ProfileSettings}
# The webhook delivery workers (with WEBHOOK_URL set): module and default port.
WEBHOOK_WORKERS = {
    "auth": ("auth_service.webhook_worker", 8091),
    "referral": ("referral_service.webhook_worker", 8092),
}


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
        fallback = env.get("STACK_WORKERS") or str(DEFAULT_WORKERS[name])
        return int(env.get(f"{name.upper()}_WORKERS") or fallback)

    ports = {"auth": "8001", "referral": "8002", "profile": "8003"}
    return [
        Service(
            name, f"{name}_service.main", int(env.get(f"{name.upper()}_PORT", port)), workers(name)
        )
        for name, port in ports.items()
    ]


def stack_environment(
    env: Mapping[str, str], services: list[Service], state: Path
) -> dict[str, str]:
    """What every service process gets: the caller's environment over the stack's defaults.

    Every service reads the same variables, so ADMIN_PHONES (auth) and AUDIT_HASH_KEY (auth and
    referral, one value so one address hashes alike in both audit logs) pass through as set.
    """
    auth, referral, _ = services
    defaults = {
        "APP_ENV": "development",
        "AUTH_DATABASE_URL": f"{LOCAL_POSTGRES}/auth",
        "REFERRAL_DATABASE_URL": f"{LOCAL_POSTGRES}/referral",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUTH_SERVICE_URL": f"http://{auth.address}",
        # Profile and auth's admin API read referral here.
        "REFERRAL_SERVICE_URL": f"http://{referral.address}",
        "DEV_SMS_INBOX": "true",
        "COOKIE_SECURE": "false",
        "SMS_BACKEND": "console",
        "JWT_PRIVATE_KEY_FILE": str(state / "jwt-ed25519.pem"),
        "JWT_GENERATE_KEY_IF_MISSING": "true",
        # The gateway is the only proxy whose X-Forwarded-For the auth service believes.
        "TRUSTED_PROXIES": '["127.0.0.1/32", "::1/128"]',
    }
    merged = {**os.environ, **defaults, **env}
    if merged.get("WEBHOOK_URL"):
        # The workers deliver; the services only write their events.
        merged["WEBHOOK_DELIVERY"] = "worker"
    return merged


def webhook_worker_children(env: Mapping[str, str], service_env: Mapping[str, str]) -> list[Child]:
    """The delivery workers, when WEBHOOK_URL is set (else none)."""
    if not service_env.get("WEBHOOK_URL"):
        return []
    return [
        Child(
            f"{name}-webhooks",
            [sys.executable, "-m", module, "--host", "127.0.0.1"],
            {
                **service_env,
                "WEBHOOK_WORKER_PORT": env.get(f"{name.upper()}_WEBHOOKS_PORT", str(port)),
            },
        )
        for name, (module, port) in WEBHOOK_WORKERS.items()
    ]


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def refused_settings(service_env: Mapping[str, str]) -> list[str]:
    """What each service would refuse to start with, one line per problem; empty when fine.

    Checked before anything starts, so that a refused configuration stops the stack with the
    services' own words instead of a child that dies at every restart.
    """
    problems = []
    with _environment(service_env):
        for name, settings in SETTINGS.items():
            try:
                settings()
            except ValidationError as refused:
                for error in refused.errors(include_url=False, include_input=False):
                    message = str(error["msg"]).removeprefix("Value error, ")
                    problems += [f"{name}: {line}" for line in message.split("; ")]
    return problems


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
        # Which peer's X-Forwarded-For to believe is the services' TRUSTED_PROXIES, not uvicorn's.
        "--no-proxy-headers",
        # Requests in flight when the service is told to stop are given this long to finish.
        "--timeout-graceful-shutdown",
        str(DRAIN_SECONDS),
    ]


def log(message: str) -> None:
    print(f"stack: {message}", flush=True)


@dataclass
class Child:
    """One supervised process: started in its own process group, restarted when it dies."""

    name: str
    command: list[str]
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=dict(self.env), start_new_session=True)
        self.restart_at = None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def schedule_restart(self, now: float) -> float | None:
        """Note an exit; the delay before the restart, or None when it keeps failing."""
        self.exits.append(now)
        while self.exits and now - self.exits[0] > RESTART_WINDOW_SECONDS:
            self.exits.popleft()
        if len(self.exits) > RESTARTS_ALLOWED:
            return None
        delay: float = min(LAST_RESTART_DELAY, FIRST_RESTART_DELAY * 2.0 ** (len(self.exits) - 1))
        self.restart_at = now + delay
        return delay

    def kill_leftovers(self) -> None:
        """Kill what the dead process left in its group: uvicorn's workers outlive their parent
        and would keep the port, so the restarted service could not bind it."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, *, grace: float) -> None:
        if self.process is not None:
            stop_process_group(self.process, grace=grace)

    def quit_gracefully(self, *, grace: float) -> None:
        """nginx's graceful stop (SIGQUIT): no new connections, in-flight requests finish."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGQUIT)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            stop_process_group(self.process, grace=1)


def run(
    env: Mapping[str, str],
    *,
    settings: RunSettings,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Start the stack, supervise it until `stop` is set, then drain it.

    Returns the exit status: 0 when asked to stop, 1 when a child kept failing, 2 when the
    configuration is refused.
    """
    state = settings.var_dir / "stack"
    state.mkdir(parents=True, exist_ok=True)
    services = services_from_env(env)
    service_env = stack_environment(env, services, state)
    problems = refused_settings(service_env)
    if problems:
        for problem in problems:
            print(f"configuration refused: {problem}", file=sys.stderr, flush=True)
        return 2
    for url_var in ("AUTH_DATABASE_URL", "REFERRAL_DATABASE_URL"):
        ensure_postgres_database(service_env[url_var])
    gateway_port = int(env.get("GATEWAY_PORT", "8080"))
    stop = stop or threading.Event()

    children = [Child(s.name, uvicorn_command(s), service_env) for s in services]
    auth, referral, profile = services
    nginx_config = render_native_config(
        workdir=state / "nginx",
        listen_port=gateway_port,
        auth=auth.address,
        referral=referral.address,
        profile=profile.address,
        frontend_root=settings.frontend_dir,
        login_rate=env.get("GATEWAY_LOGIN_RATE", DEFAULT_LOGIN_RATE),
        login_burst=int(env.get("GATEWAY_LOGIN_BURST", DEFAULT_LOGIN_BURST)),
    )
    gateway = Child("nginx", nginx_command(nginx_config, state / "nginx"), service_env)
    workers = webhook_worker_children(env, service_env)
    try:
        # The services start side by side; nginx comes last, in front of services that answer.
        for child in children:
            child.start()
        for service, child in zip(services, children, strict=True):
            assert child.process is not None
            wait_until_healthy(
                f"http://{service.address}/healthz", process=child.process, timeout=90
            )
        # After the services, whose start has migrated the databases.
        for worker in workers:
            worker.start()
        for worker in workers:
            assert worker.process is not None
            port = worker.env["WEBHOOK_WORKER_PORT"]
            wait_until_healthy(
                f"http://127.0.0.1:{port}/healthz", process=worker.process, timeout=60
            )
        gateway.start()
        assert gateway.process is not None
        wait_until_healthy(
            f"http://127.0.0.1:{gateway_port}/number_input/", process=gateway.process, timeout=30
        )
        print(f"Referral platform (microservices) on http://127.0.0.1:{gateway_port}/", flush=True)
        if ready is not None:
            ready.set()
        status = _supervise([*children, *workers, gateway], stop, clock)
    finally:
        # Drain: the gateway first, so that nothing new arrives while the services finish.
        gateway.quit_gracefully(grace=DRAIN_SECONDS)
        for child in [*children, *workers]:
            child.stop(grace=DRAIN_SECONDS)
    print("stack stopped", flush=True)
    return status


def _supervise(children: list[Child], stop: threading.Event, clock: Callable[[], float]) -> int:
    while not stop.wait(0.25):
        now = clock()
        for child in children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    log(f"starting {child.name} again")
                    child.start()
                continue
            status = child.exited()
            if status is None:
                continue
            child.kill_leftovers()
            delay = child.schedule_restart(now)
            if delay is None:
                log(
                    f"{child.name} exited {len(child.exits)} times within "
                    f"{RESTART_WINDOW_SECONDS:.0f} s; it keeps failing, stopping the stack"
                )
                return 1
            log(f"{child.name} exited with status {status}; restarting it in {delay:g} s")
    return 0


def main() -> None:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        print(f"received {signal.Signals(signum).name}, draining", flush=True)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    sys.exit(run(dict(os.environ), settings=RunSettings(), stop=stop))


if __name__ == "__main__":
    main()
