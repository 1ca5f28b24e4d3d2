"""What writing webhook events costs the hot paths: CPU ms per request, webhooks off vs on.

    REQUIRE_SERVICES=1 .venv/bin/python -m tests.webhooks.measure_write_cost [rounds] [per_round]
        [baseline_root]

Two uvicorn processes of a service run side by side on fresh PostgreSQL databases, one without
WEBHOOK_URL and one with it (WEBHOOK_DELIVERY=worker: the service only writes its events, as in
the stack). Rounds alternate between them (A, B, B, A, ...), each a loop of real requests; the
server's CPU time (utime + stime from /proc/<pid>/stat) over the round, divided by the
requests, is the figure. Activation: one POST per new invitee (their member rows made before
the round). Sign-in: a new phone's number_input, dev-inbox read and otp_input (a registration).
With `baseline_root` (a checkout of an earlier revision, e.g. `git archive HEAD services | tar
-x -C DIR`), a third process per service runs that revision's code, webhooks off ("base").
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from auth_service.jwt_keys import private_key_to_pem
from testkit.plugin import create_test_database, drop_test_database, free_port
from testkit.servers import running_process, uvicorn_command
from testkit.webhook_receiver import new_secret

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/4")
TICKS = os.sysconf("SC_CLK_TCK")
KEY = Ed25519PrivateKey.generate()
JWKS = {
    "keys": [{**OKPAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k", "alg": "EdDSA"}]
}
WEBHOOKS_ON = {
    "WEBHOOK_URL": "http://127.0.0.1:9/unused",
    "WEBHOOK_SECRET": new_secret(),
    "WEBHOOK_DELIVERY": "worker",
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def jwks_server() -> Iterator[str]:
    body = json.dumps(JWKS).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def token(user_id: int) -> str:
    now = int(time.time())
    claims = {
        "iss": "bench",
        "aud": "bench",
        "sub": str(user_id),
        "phone": f"9{user_id:09d}",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "sid": f"s{user_id}",
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "k"})


@contextmanager
def service(stack: ExitStack, module: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = stack.enter_context(
        running_process(
            uvicorn_command(f"{module}:create_app", port=port),
            env={"APP_ENV": "test", "LOG_LEVEL": "WARNING", "REDIS_URL": REDIS_URL, **env},
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{port}/healthz",
        )
    )
    yield f"http://127.0.0.1:{port}", process.pid


def activation_round(base: str, pid: int, first_user: int, count: int) -> float:
    headers = {
        str(u): {"Authorization": f"Bearer {token(u)}"}
        for u in range(first_user, first_user + count + 1)
    }
    with httpx.Client(base_url=base, timeout=10) as client:
        # The inviter and the invitees as members first: not measured.
        code = client.get("/internal/referral/profile", headers=headers[str(first_user)]).json()[
            "invite_code"
        ]
        for user in range(first_user + 1, first_user + count + 1):
            client.get("/internal/referral/profile", headers=headers[str(user)])
        before = cpu_seconds(pid)
        for user in range(first_user + 1, first_user + count + 1):
            response = client.post(
                "/referral_system/api_invite_code_activation/",
                json={"invite_code": code},
                headers=headers[str(user)],
            )
            assert response.status_code == 200, response.text
        return (cpu_seconds(pid) - before) * 1000 / count


def sign_in_round(base: str, pid: int, first_phone: int, count: int) -> float:
    with httpx.Client(base_url=base, timeout=10) as client:
        before = cpu_seconds(pid)
        for n in range(first_phone, first_phone + count):
            phone = f"9{n:09d}"
            sent = client.post("/authentication/api_number_input/", json={"phone": phone}).json()
            code = client.get("/authentication/api_dev_sms/", params={"phone": phone}).json()
            response = client.post(
                "/authentication/api_otp_input/",
                json={"otp": code["code"], "login_id": sent["login_id"]},
            )
            assert response.status_code == 200 and response.json()["is_new_user"], response.text
            client.cookies.clear()
        return (cpu_seconds(pid) - before) * 1000 / count


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    databases: list[str] = []
    baseline = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    modes: list[tuple[str, dict[str, str]]] = [("off", {}), ("on", WEBHOOKS_ON)]
    if baseline is not None:
        sources = [baseline / "services" / name / "src" for name in ("auth", "referral")]
        modes.append(("base", {"PYTHONPATH": os.pathsep.join(map(str, sources))}))
    results: dict[str, dict[str, list[float]]] = {
        "activation": {mode: [] for mode, _ in modes},
        "sign-in": {mode: [] for mode, _ in modes},
    }
    try:
        with ExitStack() as stack:
            jwks_url = stack.enter_context(jwks_server())
            servers: dict[str, dict[str, tuple[str, int]]] = {"activation": {}, "sign-in": {}}
            for mode, extra in modes:
                databases.append(create_test_database("whbench", sqlite_dir=Path("/tmp")))
                servers["activation"][mode] = stack.enter_context(
                    service(
                        stack,
                        "referral_service.main",
                        {
                            "REFERRAL_DATABASE_URL": databases[-1],
                            "JWKS_URL": jwks_url,
                            "JWT_ISSUER": "bench",
                            "JWT_AUDIENCE": "bench",
                            "ACTIVATION_FAILURES_PER_USER_PER_HOUR": "1000000",
                            **extra,
                        },
                    )
                )
                databases.append(create_test_database("whbench", sqlite_dir=Path("/tmp")))
                servers["sign-in"][mode] = stack.enter_context(
                    service(
                        stack,
                        "auth_service.main",
                        {
                            "AUTH_DATABASE_URL": databases[-1],
                            "JWT_PRIVATE_KEY": private_key_to_pem(KEY).decode(),
                            "DEV_SMS_INBOX": "true",
                            "COOKIE_SECURE": "false",
                            "OTP_MAX_PER_IP_PER_HOUR": "1000000",
                            "OTP_MAX_VERIFY_FAILURES_PER_IP_PER_HOUR": "1000000",
                            **extra,
                        },
                    )
                )
            names = [mode for mode, _ in modes]
            # New phones for every sign-in, in every run (Redis keeps each phone's send limits).
            phones = iter(range(secrets.randbelow(800_000_000) + 100_000_000, 10**9, per_round))
            for mode in names:  # warm-up rounds, not counted
                activation_round(*servers["activation"][mode], 1, 50)
                sign_in_round(*servers["sign-in"][mode], next(phones), 50)
            for number in range(rounds):
                # Each mode takes each place in the order in turn.
                shift = number % len(names)
                for mode in names[shift:] + names[:shift]:
                    first = 1000 + number * (per_round + 1)
                    results["activation"][mode].append(
                        activation_round(*servers["activation"][mode], first, per_round)
                    )
                    results["sign-in"][mode].append(
                        sign_in_round(*servers["sign-in"][mode], next(phones), per_round)
                    )
    finally:
        for url in databases:
            drop_test_database(url)
    for path, measured in results.items():
        off = statistics.median(measured["off"])
        line = [f"{path}: CPU ms/request, median of {rounds} rounds of {per_round}:"]
        for mode, values in measured.items():
            median = statistics.median(values)
            change = "" if mode == "off" else f" ({(median - off) / off:+.1%} vs off)"
            line.append(f"{mode} {median:.3f}{change} {[round(x, 2) for x in values]};")
        print(" ".join(line))


if __name__ == "__main__":
    main()
