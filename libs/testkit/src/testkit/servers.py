"""Start real server processes for black-box tests and always stop them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from common.processes import stop_process_group, wait_until_healthy


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
    with open(log_path or os.devnull, "wb") as log:
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
            stop_process_group(process)


def uvicorn_command(app_factory: str, *, port: int) -> list[str]:
    """A uvicorn command for a `module:create_app` factory on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app_factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-proxy-headers",
    ]


def uvicorn_pid(port: int) -> int:
    """The uvicorn process started with `--port port` (a supervisor's, with workers), from /proc."""
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


def answers(url: str) -> bool:
    """Whether `url` answers 200 within a second."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def serving_after(port: int, killed: Collection[int]) -> int | None:
    """The pid of a uvicorn process on `port` that is none of `killed` and whose /healthz
    answers; None while there is none (a restarted service is not up yet)."""
    try:
        pid = uvicorn_pid(port)
    except LookupError:
        return None
    if pid in killed or not answers(f"http://127.0.0.1:{port}/healthz"):
        return None
    return pid
