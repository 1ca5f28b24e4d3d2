"""What one run measures and where: every knob is an environment variable with a default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runmodes.stack import services_from_env

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LUA_DIR = BENCH_DIR / "lua"

# Fixed by the issue: the shapes every run seeds.
HEAVY_INVITEES = 100_000
CHAIN_EDGES = 10_000
# Fresh users that each activate one code; more than one activation run can use up.
ACTIVATION_POOL = 50_000
# Distinct users of the cold profile run (each token used COLD_USES times).
PROFILE_USERS = 10_000
COLD_USES = 3
# Users between one use of a token and its next use in the cold run's request file: far more
# requests than are ever in flight at once, so a token's first use (the miss) has been answered
# before its second is sent.
COLD_GAP = 128
SERVICES = ("auth", "referral", "profile")


@dataclass(frozen=True)
class BenchConfig:
    postgres_url: str
    redis_url: str
    auth_database: str
    referral_database: str
    scales: tuple[int, ...]
    duration_seconds: int
    warmup_seconds: int
    connections: int
    # uvicorn workers of each service, as the stack resolves them from the environment.
    workers: Mapping[str, int]
    keep_data: bool
    # latest.md and latest.png go here, each run's raw output under its raw/.
    results_dir: Path

    @property
    def raw_dir(self) -> Path:
        return self.results_dir / "raw"

    def database_url(self, name: str) -> str:
        return f"{self.postgres_url.rstrip('/')}/{name}"

    @property
    def auth_url(self) -> str:
        return self.database_url(self.auth_database)

    @property
    def referral_url(self) -> str:
        return self.database_url(self.referral_database)


def service_workers(env: Mapping[str, str]) -> dict[str, int]:
    """Each service's workers exactly as `runmodes.stack` reads them: `{NAME}_WORKERS`, else
    `STACK_WORKERS`, else the stack's default. `BENCH_WORKERS` stands for `STACK_WORKERS` when
    that is unset (the harness's older name)."""
    stack_env = dict(env)
    if "STACK_WORKERS" not in stack_env and "BENCH_WORKERS" in stack_env:
        stack_env["STACK_WORKERS"] = stack_env["BENCH_WORKERS"]
    return {service.name: service.workers for service in services_from_env(stack_env)}


def load_config(env: Mapping[str, str] = os.environ) -> BenchConfig:
    scales = tuple(int(part) for part in env.get("BENCH_SCALES", "1000,100000,1000000").split(","))
    if list(scales) != sorted(set(scales)):
        raise ValueError("BENCH_SCALES must be increasing user counts, e.g. 1000,100000,1000000")
    return BenchConfig(
        postgres_url=env.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432"),
        redis_url=env.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        auth_database="bench_auth",
        referral_database="bench_referral",
        scales=scales,
        duration_seconds=int(env.get("BENCH_DURATION", "10")),
        warmup_seconds=int(env.get("BENCH_WARMUP", "2")),
        connections=int(env.get("BENCH_CONNECTIONS", "32")),
        workers=service_workers(env),
        keep_data=env.get("BENCH_KEEP_DATA", "") == "1",
        results_dir=Path(env.get("BENCH_RESULTS_DIR", RESULTS_DIR)).resolve(),
    )
