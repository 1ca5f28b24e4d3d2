"""Runs wrk with one of the Lua scripts and reads the JSON line the script prints at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import LUA_DIR

RESULT_PREFIX = "BENCH_RESULT "
# Latency beyond this is a failed request, not a slow one.
TIMEOUT_SECONDS = 10


def thread_count(connections: int, *, stateful: bool) -> int:
    return connections if stateful else min(2, connections)


@dataclass(frozen=True)
class Load:
    """What wrk sends: a script and its arguments, over `connections` on `threads` threads."""

    script: str
    args: tuple[str, ...]
    connections: int
    # Scripts that keep per-connection state (a login's steps, an expected status) need
    # one connection per thread; the others use two threads, one per core.
    stateful: bool = False

    @property
    def threads(self) -> int:
        return thread_count(self.connections, stateful=self.stateful)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    unexpected: int
    statuses: dict[str, int]
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def errors(self) -> int:
        """Requests that failed: connect/read/write errors, timeouts, or an unexpected status."""
        return self.socket_errors + self.unexpected

    def per_second(self, counter: str) -> float:
        return self.counters.get(counter, 0.0) / self.duration_s

    @classmethod
    def from_script(cls, data: dict[str, Any]) -> WrkResult:
        latency, errors = data["latency_us"], data["errors"]
        return cls(
            requests=int(data["requests"]),
            duration_s=data["duration_us"] / 1e6,
            p50_ms=latency["p50"] / 1000,
            p90_ms=latency["p90"] / 1000,
            p99_ms=latency["p99"] / 1000,
            max_ms=latency["max"] / 1000,
            socket_errors=sum(
                int(errors[kind]) for kind in ("connect", "read", "write", "timeout")
            ),
            unexpected=int(data["unexpected"]),
            statuses={str(status): int(count) for status, count in data["statuses"].items()},
            counters={name: float(value) for name, value in data["counters"].items()},
        )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise FileNotFoundError("wrk is not installed: apt-get install wrk")
    return found


def run_wrk(base_url: str, load: Load, *, seconds: int, output: Path) -> WrkResult:
    """Load `base_url` for `seconds`; wrk's whole output is kept in `output`."""
    command = [
        wrk_binary(),
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={seconds}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={LUA_DIR / load.script}",
        base_url,
        "--",
        *load.args,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    output.write_text(f"$ {' '.join(command)}\n{completed.stdout}{completed.stderr}")
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return WrkResult.from_script(json.loads(line.removeprefix(RESULT_PREFIX)))
    raise RuntimeError(f"wrk exited with {completed.returncode} and no result; see {output}")
