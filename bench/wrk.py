"""Runs wrk with one of the Lua scripts and reads the JSON line the script prints at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import LUA_DIR
from bench.processes import cpu_seconds

RESULT_PREFIX = "BENCH_RESULT "
# Latency beyond this is a failed request, not a slow one.
TIMEOUT_SECONDS = 10


# One wrk thread per core of this 2-core machine: more threads cost wrk CPU that the servers
# under test would otherwise have.
THREADS = 2


def thread_count(connections: int) -> int:
    return min(THREADS, connections)


@dataclass(frozen=True)
class Load:
    """What wrk sends: a script and its arguments, over `connections` on `threads` threads."""

    script: str
    args: tuple[str, ...]
    connections: int
    # Every thread stops by itself once its lines are sent: wrk is ended then (SIGINT makes it
    # report at once) rather than idling to the end of its duration.
    once: bool = False

    @property
    def threads(self) -> int:
        return thread_count(self.connections)


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
    # wrk's own CPU: sending and reading (its worker threads), and the setup before (reading
    # the request file in each thread's init(), in wrk's main thread), which is not load.
    cpu_seconds: float = 0.0
    setup_cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def errors(self) -> int:
        """Requests that failed: connect/read/write errors, timeouts, or an unexpected status."""
        return self.socket_errors + self.unexpected

    def per_second(self, counter: str) -> float:
        return self.counters.get(counter, 0.0) / self.duration_s

    @property
    def stopped_early(self) -> bool:
        """A one-pass run that sent all its lines before wrk's duration was over."""
        return self.counters.get("stopped_threads", 0.0) > 0

    @classmethod
    def from_script(
        cls, data: dict[str, Any], *, cpu_seconds: float = 0.0, setup_cpu_seconds: float = 0.0
    ) -> WrkResult:
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
            cpu_seconds=cpu_seconds,
            setup_cpu_seconds=setup_cpu_seconds,
        )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise FileNotFoundError("wrk is not installed: apt-get install wrk")
    return found


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def run_wrk(base_url: str, load: Load, *, seconds: int, output: Path) -> WrkResult:
    """Load `base_url` for `seconds`; wrk's whole output is kept in `output`.

    wrk runs every thread's init() (reading the request file) in its main thread before the
    load starts, then sleeps until the end: the main thread's CPU, read while wrk runs, is the
    setup, and the rest of the process's CPU (from wait4) is what sending the load cost.
    """
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
    deadline = time.monotonic() + seconds + 60
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        setup, threads_seen, interrupted = 0.0, False, False
        try:
            while True:
                setup = max(setup, cpu_seconds(process.pid, thread=process.pid))
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    break
                # Threads leave /proc/PID/task as they end; the main thread sleeps on.
                running = _threads(process.pid)
                threads_seen = threads_seen or running > 1
                if load.once and threads_seen and running == 1 and not interrupted:
                    process.send_signal(signal.SIGINT)
                    interrupted = True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"wrk did not stop within {seconds + 60} s")
                time.sleep(0.1)
        finally:
            if process.returncode is None:
                process.kill()
                process.wait()
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read().decode(), stderr.read().decode()
    output.write_text(f"$ {' '.join(command)}\n{out}{err}")
    total = usage.ru_utime + usage.ru_stime
    for line in out.splitlines():
        if line.startswith(RESULT_PREFIX):
            return WrkResult.from_script(
                json.loads(line.removeprefix(RESULT_PREFIX)),
                cpu_seconds=max(total - setup, 0.0),
                setup_cpu_seconds=setup,
            )
    raise RuntimeError(f"wrk exited with {process.returncode} and no result; see {output}")
