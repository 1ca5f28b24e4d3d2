"""What one run measures and where: every knob is an environment variable with a default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LUA_DIR = BENCH_DIR / "lua"

# Fixed by the issue: the shapes every run seeds.
HEAVY_INVITEES = 100_000
CHAIN_EDGES = 10_000
# Fresh users that each activate one code; more than one activation run can use up.
ACTIVATION_POOL = 50_000
# Distinct users whose tokens a profile run cycles through.
PROFILE_USERS = 10_000


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
    workers: int
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
        # One process per service, as `make stack` runs it; a second one doubles the memory.
        workers=int(env.get("BENCH_WORKERS", env.get("STACK_WORKERS", "1"))),
        keep_data=env.get("BENCH_KEEP_DATA", "") == "1",
        results_dir=Path(env.get("BENCH_RESULTS_DIR", RESULTS_DIR)).resolve(),
    )
