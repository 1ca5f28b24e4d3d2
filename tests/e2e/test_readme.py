"""The README's sign-in walkthrough works as written, against `make run`'s process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.plugin import free_port
from testkit.servers import running_process

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## How signing in works", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no shell block under 'How signing in works'"
    return match.group(1)


def test_the_curl_walkthrough_signs_in_and_the_console_notes_the_sms_without_its_code(
    tmp_path: Path,
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    port = free_port()
    log = tmp_path / "run.log"
    with running_process(
        [sys.executable, "-m", "runmodes"],
        env={"PORT": str(port), "VAR_DIR": str(tmp_path / "var"), "LOG_JSON": "false"},
        cwd=REPO_ROOT,
        health_url=f"http://127.0.0.1:{port}/number_input/",
        log_path=log,
    ):
        script = walkthrough().replace(
            "BASE=http://127.0.0.1:8000", f"BASE=http://127.0.0.1:{port}"
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    # The last command prints the profile.
    profile = json.loads(result.stdout[result.stdout.rindex('{"id"') :])
    assert profile["phone"] == "9991234567" and len(profile["invite_code"]) == 6
    console = log.read_text()
    # The plain-text console: the simulated SMS noted without its code, readable access lines.
    assert "simulated SMS to 9991234567; its code is in the dev inbox" in console, console[-2000:]
    assert not re.search(r"Код для входа", console)
    assert re.search(r"POST /authentication/api_otp_input/ 200 [\d.]+ ms", console)
