"""`make stack` supervises its children: a signal drains and stops them all, a child that dies
is started again while the others keep serving, and one that keeps failing stops the stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from common.processes import stop_process_group, wait_until_healthy
from runmodes.stack import RESTARTS_ALLOWED, services_from_env, stack_environment
from testkit.plugin import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    POSTGRES_URL,
    drop_test_database,
    free_port,
)
from testkit.servers import answers as answers_url
from testkit.servers import serving_after, uvicorn_pid

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def start_stack(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {name: free_port() for name in ("GATEWAY", "AUTH", "REFERRAL", "PROFILE")}
    env = {**os.environ, **{f"{name}_PORT": str(port) for name, port in ports.items()}, **settings}
    process = subprocess.Popen(
        [sys.executable, "-m", "runmodes.stack"],
        env={**env, "VAR_DIR": str(tmp_path)},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, ports


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
        [sys.executable, "-m", "runmodes.stack"],
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


def wait_for(condition: Callable[[], bool], *, timeout: float) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


def answers(port: int, path: str = "/healthz") -> bool:
    return answers_url(f"http://127.0.0.1:{port}{path}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_child_that_dies_is_started_again_while_the_rest_keep_serving(stack: Stack) -> None:
    killed = uvicorn_pid(stack.ports["REFERRAL"])
    os.kill(killed, signal.SIGKILL)

    # The gateway and the other services never stop answering.
    assert answers(stack.ports["GATEWAY"], "/number_input/")
    assert answers(stack.ports["AUTH"]) and answers(stack.ports["PROFILE"])
    # Its workers went with it (they would hold the port), and a new service took over.
    wait_for(lambda: not group_alive(killed), timeout=5)
    back_in = wait_for(lambda: answers(stack.ports["REFERRAL"]), timeout=10)

    assert back_in < 10
    assert uvicorn_pid(stack.ports["REFERRAL"]) != killed
    assert stack.process.poll() is None
    stack.process.send_signal(signal.SIGTERM)
    output = stack.stopped()
    assert "referral exited with status -9; restarting it in 0.5 s" in output
    assert "starting referral again" in output


def serving_again(port: int, killed: set[int]) -> int:
    """The pid of a service on `port` started after those `killed`, once it answers."""
    deadline = time.monotonic() + 30
    while (pid := serving_after(port, killed)) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return pid


def test_a_child_that_keeps_failing_stops_the_stack(stack: Stack) -> None:
    killed: set[int] = set()
    for _ in range(RESTARTS_ALLOWED + 1):
        pid = serving_again(stack.ports["PROFILE"], killed)
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    output = stack.stopped()

    assert stack.process.returncode == 1, output
    assert "profile exited 6 times within 60 s; it keeps failing, stopping the stack" in output
    assert not any(accepts(port) for port in stack.ports.values())


def test_a_configuration_production_refuses_stops_the_stack_before_it_starts(
    tmp_path: Path,
) -> None:
    process, ports = start_stack(tmp_path, APP_ENV="production")
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 2
    lines = output.decode().splitlines()
    refusal = "configuration refused: auth: DEV_SMS_INBOX=true lets anyone read any phone's"
    assert any(line.startswith(refusal) for line in lines), lines
    assert any("COOKIE_SECURE" in line for line in lines)
    assert not any(accepts(port) for port in ports.values())


def test_auth_reaches_referral_and_every_service_gets_the_operators_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Auth's admin API reads referral at referral's port; ADMIN_PHONES and AUDIT_HASH_KEY come
    from the caller's environment, one value for every service."""
    monkeypatch.setenv("ADMIN_PHONES", "9990000777")
    env = {"REFERRAL_PORT": "18102", "AUDIT_HASH_KEY": "one-key-for-both"}
    services = services_from_env(env)

    merged = stack_environment(env, services, tmp_path)

    assert merged["REFERRAL_SERVICE_URL"] == "http://127.0.0.1:18102"
    assert merged["ADMIN_PHONES"] == "9990000777"
    assert merged["AUDIT_HASH_KEY"] == "one-key-for-both"
