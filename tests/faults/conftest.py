"""Fault injection on private servers: a PostgreSQL cluster and a Redis of the test's own, the
native stack on them, and traffic whose every answer is recorded.

The shared servers of the machine are never touched: each test initialises its own cluster
(initdb, as the `postgres` user when the suite runs as root), starts its own redis-server with an
append-only file, and kills, stalls and restarts only those.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from common.processes import stop_process_group, wait_until_healthy
from testkit.plugin import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "logs" / "faults"
# What the tests measured; the README's operations section quotes these.
FIGURES = REPO_ROOT / "artifacts" / "faults.md"
_PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user.

    setpriv execs the command in place, so the server stays this process's child: killed, it
    is reaped here (a container's init may never reap an orphan, and a zombie postmaster's pid
    would keep the next one from starting).
    """
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


class Postgres:
    """A PostgreSQL cluster of this test's own, on its own port, run as a child process."""

    def __init__(self, root: Path) -> None:
        if not _PG_BINARIES:
            pytest.skip("needs PostgreSQL's server binaries (initdb)")
        self.bin = _PG_BINARIES[-1].parent
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            ),
            check=True,
            capture_output=True,
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                _as_postgres(
                    [
                        str(self.bin / "postgres"),
                        "-D",
                        str(self.data),
                        "-p",
                        str(self.port),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-k",
                        str(self.root),
                    ]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not self.ready():
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.05)

    def ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return result.returncode == 0

    def _signal_and_wait(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.resume()
        self.process.send_signal(signum)
        self.process.wait(timeout=60)

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m fast` (SIGINT: in-flight transactions are rolled back)."""
        self._signal_and_wait(signal.SIGINT if mode == "fast" else signal.SIGTERM)
        self.start()

    def processes(self) -> list[int]:
        """The postmaster and every process it started."""
        assert self.process is not None
        postmaster = self.process.pid
        children = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and _parent(entry) == postmaster
        ]
        return [postmaster, *children]

    def kill(self) -> None:
        """kill -9 of the postmaster; its backends notice and exit on their own."""
        assert self.process is not None
        backends = self.processes()[1:]
        self.process.kill()
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in backends) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stall(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal_and_wait(signal.SIGQUIT)

    def scalar(self, database: str, query: str) -> Any:
        engine = create_engine(self.url(database))
        try:
            with engine.connect() as connection:
                return connection.execute(text(query)).scalar()
        finally:
            engine.dispose()


def _parent(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class RedisServer:
    """A redis-server of this test's own, keeping every acknowledged write in its AOF."""

    def __init__(self, root: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("needs redis-server")
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                # DEBUG SLEEP stalls it on purpose.
                "--enable-debug-command",
                "local",
                "--logfile",
                str(self.root / "redis.log"),
            ],
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process_group(self.process, grace=5)


@dataclass
class Stack:
    """The native stack (`make stack`) on the test's own servers."""

    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Figures:
    """What clients saw during each fault, as the tests measured it."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def record(self, fault: str, seen: str) -> None:
        self.rows.append((fault, seen))

    def markdown(self) -> str:
        lines = ["| fault | what clients saw (measured) |", "|---|---|"]
        lines += [f"| {fault} | {seen} |" for fault, seen in self.rows]
        return "\n".join(lines) + "\n"


_FIGURES = Figures()


@pytest.fixture
def figures() -> Figures:
    return _FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES.rows:
        return
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(_FIGURES.markdown())
    terminalreporter.write_sep("-", f"fault figures (also in {FIGURES.relative_to(REPO_ROOT)})")
    for fault, seen in _FIGURES.rows:
        terminalreporter.write_line(f"{fault}: {seen}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Postgres, RedisServer]]:
    postgres = Postgres(Path(f"/tmp/faults-pg-{tmp_path.name}-{os.getpid()}"))
    redis = RedisServer(tmp_path / "redis")
    try:
        postgres.start()
        redis.start()
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(postgres.root, ignore_errors=True)


@pytest.fixture
def stack(
    servers: tuple[Postgres, RedisServer], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    postgres, redis = servers
    ports = {name: free_port() for name in ("gateway", "auth", "referral", "profile")}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / f"{request.node.name}.log"
    env = {
        **os.environ,
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
        "VAR_DIR": str(tmp_path / "var"),
        "AUTH_DATABASE_URL": postgres.url("auth"),
        "REFERRAL_DATABASE_URL": postgres.url("referral"),
        "REDIS_URL": redis.url,
        "APP_ENV": "development",
        "OTP_MAX_PER_IP_PER_HOUR": "100000",
        "OTP_MAX_VERIFY_FAILURES_PER_IP_PER_HOUR": "100000",
        "OTP_RESEND_COOLDOWN_SECONDS": "0",
        "GATEWAY_LOGIN_RATE": "10000r/s",
        "GATEWAY_LOGIN_BURST": "10000",
    }
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "runmodes.stack"],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_healthy(
                f"http://127.0.0.1:{ports['gateway']}/number_input/", process=process, timeout=120
            )
            yield Stack(process, ports, log)
        finally:
            stop_process_group(process, grace=30)


@dataclass
class User:
    user_id: int
    phone: str
    access_token: str
    refresh_token: str
    invite_code: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_up(client: httpx.Client, phone: str) -> User:
    sent = client.post("/authentication/api_number_input/", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    code = client.get("/authentication/api_dev_sms/", params={"phone": phone}).json()["code"]
    body = client.post(
        "/authentication/api_otp_input/", json={"otp": code, "login_id": sent.json()["login_id"]}
    ).json()
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    invite_code = client.get("/profile/api_profile/", headers=headers).json()["invite_code"]
    return User(
        user_id=body["user"]["id"],
        phone=phone,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        invite_code=invite_code,
    )


@pytest.fixture
def users(stack: Stack) -> list[User]:
    """People signed up through the gateway, each with an invite code."""
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        return [sign_up(client, f"95{index:08d}") for index in range(60)]


@dataclass(frozen=True)
class Answer:
    kind: str  # "activation" | "profile"
    user: int
    started: float
    ended: float
    status: int
    body: dict[str, Any]


@dataclass
class Traffic:
    """Activations (each user once, all joining the first user) and profile reads, from
    several threads, every answer recorded with its times."""

    base_url: str
    users: list[User]
    threads: int = 4
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 1

    def _take(self) -> User | None:
        with self._lock:
            if self._next >= len(self.users):
                return None
            user = self.users[self._next]
            self._next += 1
            return user

    def _run(self, index: int) -> None:
        inviter = self.users[0]
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            turn = index
            while not self._stop.is_set():
                turn += 1
                user = self._take() if turn % 2 == 0 else None
                started = time.monotonic()
                if user is not None:
                    kind, who = "activation", user
                    response = client.post(
                        "/referral_system/api_invite_code_activation/",
                        json={"invite_code": inviter.invite_code},
                        headers=user.headers,
                    )
                else:
                    kind, who = "profile", self.users[turn % len(self.users)]
                    response = client.get("/profile/api_profile/", headers=who.headers)
                ended = time.monotonic()
                try:
                    body = response.json()
                except json.JSONDecodeError:
                    body = {"raw": response.text[:200]}
                with self._lock:
                    self.answers.append(
                        Answer(kind, who.user_id, started, ended, response.status_code, body)
                    )
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._workers = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)

    def acknowledged_activations(self) -> set[int]:
        return {a.user for a in self.answers if a.kind == "activation" and a.status == 200}


def wait_for(condition: Callable[[], bool], *, timeout: float, step: float = 0.1) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(step)
    return time.monotonic() - started


def assert_only_outage_answers(answers: list[Answer]) -> None:
    """Every answer is a success or a 503 in the contract's shape; nothing else, no 500."""
    for answer in answers:
        if answer.status == 200:
            continue
        assert answer.status == 503, answer
        assert set(answer.body) >= {"detail", "code"}, answer
        assert answer.body["code"] in {"service_unavailable", "upstream_unavailable"}, answer


def activated_in_database(postgres: Postgres) -> set[int]:
    engine = create_engine(postgres.url("referral"))
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT invitee_id FROM activation")).scalars())
    finally:
        engine.dispose()
