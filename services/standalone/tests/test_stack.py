"""`make stack` runs in the foreground: a signal, or a child dying, takes every child down."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from common.processes import stop_process_group, wait_until_healthy
from common.testing.plugin import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    POSTGRES_URL,
    drop_test_database,
    free_port,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]

    def stopped(self) -> str:
        output, _ = self.process.communicate(timeout=60)
        return output.decode()


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_listening_on(port: int) -> int:
    """The uvicorn process started with `--port port`, found through /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in args and str(port).encode() in args:
            return int(entry.name)
    raise LookupError(f"no uvicorn process on port {port}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("the stack needs PostgreSQL and Redis")
    ports = {name: free_port() for name in ("GATEWAY", "AUTH", "REFERRAL", "PROFILE")}
    suffix = uuid.uuid4().hex[:8]
    urls = [
        make_url(POSTGRES_URL).set(database=f"stack_{name}_{suffix}").render_as_string(False)
        for name in ("auth", "referral")
    ]
    env = {
        **os.environ,
        **{f"{name}_PORT": str(port) for name, port in ports.items()},
        "VAR_DIR": str(tmp_path),
        "AUTH_DATABASE_URL": urls[0],
        "REFERRAL_DATABASE_URL": urls[1],
        "REDIS_URL": "redis://127.0.0.1:6379/13",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "standalone.stack"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_healthy(
            f"http://127.0.0.1:{ports['GATEWAY']}/number_input/", process=process, timeout=120
        )
        assert all(accepts(port) for port in ports.values())
        yield Stack(process, ports)
    finally:
        stop_process_group(process)
        for url in urls:
            drop_test_database(url)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_nginx_and_every_service(stack: Stack, signum: signal.Signals) -> None:
    stack.process.send_signal(signum)  # to the runner alone, as a terminal or an init system does
    output = stack.stopped()

    assert stack.process.returncode == 0, output
    assert "stack stopped" in output
    assert not any(accepts(port) for port in stack.ports.values())


def test_a_child_that_dies_takes_the_stack_down_with_a_failure(stack: Stack) -> None:
    os.kill(pid_listening_on(stack.ports["AUTH"]), signal.SIGKILL)
    output = stack.stopped()

    assert stack.process.returncode == 1, output
    assert "auth exited on its own" in output
    assert not any(accepts(port) for port in stack.ports.values())
