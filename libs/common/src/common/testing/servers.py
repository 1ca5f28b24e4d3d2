"""Start real server processes for black-box tests and always stop them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def wait_until_healthy(url: str, *, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


@contextmanager
def running_process(
    args: list[str],
    *,
    health_url: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    timeout: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` in its own process group until the block ends, then stop the whole group."""
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_healthy(health_url, process=process, timeout=timeout)
        yield process
    finally:
        _stop_group(process)
        if log_path:
            log.close()  # type: ignore[union-attr]


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def uvicorn_command(app_factory: str, *, port: int) -> list[str]:
    """A uvicorn command for a `module:create_app` factory on 127.0.0.1:port."""
    return [
        sys.executable, "-m", "uvicorn", app_factory, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]
