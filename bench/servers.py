"""The processes under test: the native stack, and the limit (the same nginx + a bare app)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.config import REPO_ROOT, BenchConfig
from bench.processes import children, command_line, free_port
from gateway_config.render import nginx_command, render_native_config
from testkit.servers import running_process

STATIC_PROFILE = "/static/profile.json"
PROFILE_PATH = "/profile/api_profile/"
# Nothing listens here: the limit's nginx routes only the profile path and static files.
_UNUSED_UPSTREAM = "127.0.0.1:9"
_SERVICE_MODULES = {
    "auth": "auth_service.main",
    "referral": "referral_service.main",
    "profile": "profile_service.main",
}


@dataclass(frozen=True)
class Ports:
    gateway: int
    auth: int
    referral: int
    profile: int
    limit: int
    bare: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*(free_port() for _ in range(6)))


def stack_environment(config: BenchConfig, ports: Ports, var_dir: Path) -> dict[str, str]:
    return {
        "GATEWAY_PORT": str(ports.gateway),
        "AUTH_PORT": str(ports.auth),
        "REFERRAL_PORT": str(ports.referral),
        "PROFILE_PORT": str(ports.profile),
        **{f"{name.upper()}_WORKERS": str(count) for name, count in config.workers.items()},
        "VAR_DIR": str(var_dir),
        "AUTH_DATABASE_URL": config.auth_url,
        "REFERRAL_DATABASE_URL": config.referral_url,
        "REDIS_URL": config.redis_url,
        # The login run signs in thousands of fresh phones a second from one address.
        "GATEWAY_LOGIN_RATE": "100000r/s",
        "GATEWAY_LOGIN_BURST": "100000",
        "OTP_MAX_PER_IP_PER_HOUR": "1000000000",
        "OTP_MAX_PER_PHONE_PER_HOUR": "1000",
        "OTP_RESEND_COOLDOWN_SECONDS": "0",
        # The cycle lines are one user refused again and again, on purpose.
        "ACTIVATION_FAILURES_PER_USER_PER_HOUR": "1000000000",
    }


@dataclass(frozen=True)
class Stack:
    runner: int  # the `runmodes.stack` process itself
    roots: dict[str, int]  # each service's uvicorn process, and the gateway's nginx master


@contextmanager
def running_stack(config: BenchConfig, ports: Ports, var_dir: Path, log: Path) -> Iterator[Stack]:
    """`make stack`'s runner in a process of its own; yields its pid and each service's root."""
    with running_process(
        [sys.executable, "-m", "runmodes.stack"],
        env=stack_environment(config, ports, var_dir),
        cwd=REPO_ROOT,
        health_url=f"http://127.0.0.1:{ports.gateway}/number_input/",
        log_path=log,
        timeout=180,
    ) as stack:
        yield Stack(runner=stack.pid, roots=service_roots(stack.pid))


def service_roots(stack_pid: int) -> dict[str, int]:
    roots: dict[str, int] = {}
    for pid in children(stack_pid):
        command = command_line(pid)
        for name, module in _SERVICE_MODULES.items():
            if module in command:
                roots[name] = pid
        if "nginx" in command.split(" ", 1)[0]:
            roots["gateway"] = pid
    missing = {*_SERVICE_MODULES, "gateway"} - roots.keys()
    if missing:
        raise RuntimeError(f"no process found for {sorted(missing)} under the stack {stack_pid}")
    return roots


@contextmanager
def running_limit(
    config: BenchConfig,
    ports: Ports,
    *,
    key_file: Path,
    static_root: Path,
    workdir: Path,
    log_dir: Path,
) -> Iterator[dict[str, int]]:
    """The gateway's own nginx configuration, its profile route onto the bare app.

    Yields the root process ids of the bare app and of this nginx.
    """
    with ExitStack() as stack:
        bare = stack.enter_context(
            running_process(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.bare:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports.bare),
                    "--workers",
                    # The bare app stands in for the profile service: as many workers.
                    str(config.workers["profile"]),
                    "--no-access-log",
                ],
                env={
                    "BENCH_BARE_DATABASE_URL": config.referral_url,
                    "BENCH_BARE_REDIS_URL": config.redis_url,
                    "BENCH_BARE_KEY_FILE": str(key_file),
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
                    ),
                },
                cwd=REPO_ROOT,
                health_url=f"http://127.0.0.1:{ports.bare}/healthz",
                log_path=log_dir / "bare.log",
            )
        )
        nginx_config = render_native_config(
            workdir=workdir,
            listen_port=ports.limit,
            auth=_UNUSED_UPSTREAM,
            referral=_UNUSED_UPSTREAM,
            profile=f"127.0.0.1:{ports.bare}",
            frontend_root=static_root,
        )
        nginx = stack.enter_context(
            running_process(
                nginx_command(nginx_config, workdir),
                health_url=f"http://127.0.0.1:{ports.limit}{STATIC_PROFILE}",
                log_path=log_dir / "limit-nginx.log",
            )
        )
        yield {"bare": bare.pid, "nginx": nginx.pid}
