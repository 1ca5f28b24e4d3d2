"""`python -m runmodes` (`make run`) is its own edge: the client address that the per-IP caps
count is the connection's peer, whatever `X-Forwarded-For` a client sends."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from testkit.plugin import free_port
from testkit.servers import running_process

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_a_forged_forwarded_for_does_not_escape_the_per_ip_send_cap(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PORT": str(port),
        "VAR_DIR": str(tmp_path / "var"),
        "APP_ENV": "development",
        "OTP_MAX_PER_IP_PER_HOUR": "2",
    }
    with (
        running_process(
            [sys.executable, "-m", "runmodes"],
            env=env,
            cwd=REPO_ROOT,
            health_url=f"{base}/number_input/",
            log_path=tmp_path / "single.log",
        ),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        statuses = [
            http.post(
                "/authentication/api_number_input/",
                json={"phone": f"99900000{index:02d}"},
                headers={"X-Forwarded-For": f"203.0.113.{index}"},
            ).status_code
            for index in range(4)
        ]

    assert statuses == [200, 200, 429, 429]
