"""`make stack` runs in the foreground and takes every child down with it on SIGTERM or Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
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


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_nginx_and_every_service(tmp_path: Path, signum: signal.Signals) -> None:
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
    stack = subprocess.Popen(
        [sys.executable, "-m", "standalone.stack"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_healthy(
            f"http://127.0.0.1:{ports['GATEWAY']}/number_input/", process=stack, timeout=120
        )
        assert all(accepts(port) for port in ports.values())

        stack.send_signal(signum)  # to the runner alone, as a terminal or an init system does
        output, _ = stack.communicate(timeout=60)

        assert stack.returncode == 0, output.decode()
        assert b"stack stopped" in output
        assert not any(accepts(port) for port in ports.values())
    finally:
        stop_process_group(stack)
        for url in urls:
            drop_test_database(url)
