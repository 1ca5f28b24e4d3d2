"""`python -m bench.run` (what `make bench` runs): seed, start the stack, load it, report.

  1. fresh bench databases with the services' migrations, the first scale seeded
  2. the native stack (`standalone.stack`) on free ports, its login limits raised
  3. profile GETs of typical users at each scale, seeding the next scale in between
  4. at the largest scale: this machine's limits (the gateway's nginx serving a static profile,
     and the same nginx in front of a bare app running the profile's queries), then the
     100k-invitee user's profile, activations and sign-ins
  5. the summary (bench/results/latest.md, latest.png) and raw output (bench/results/raw/)

Every process started here is stopped, and the databases dropped, whatever happens.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from types import FrameType

import httpx

from bench import report, requests
from bench.config import (
    ACTIVATION_POOL,
    PROFILE_USERS,
    BenchConfig,
    load_config,
)
from bench.cpu import CpuMeter
from bench.memory import MemoryWatch
from bench.report import Measurement, Run, profile_key, scale_label
from bench.seed import Layout, check_scales, drop_databases, reset_databases, seed_scale
from bench.servers import PROFILE_PATH, STATIC_PROFILE, Ports, running_limit, running_stack
from bench.tokens import TokenMinter, stack_key_file
from bench.wrk import Load, run_wrk, thread_count
from common.redis import redis_from_url

# Raw runs kept under bench/results/raw/ (each holds every log and wrk output of its run).
KEEP_RAW_RUNS = 3
HEAVY_TOKENS = 64
WARMUP_ACTIVATORS = 10_000
# Typical profiles fetched to size the static file: the median body is served.
STATIC_SAMPLE = 101


class Bench:
    def __init__(self, config: BenchConfig, raw: Path, watch: MemoryWatch, cpu: CpuMeter) -> None:
        self.config = config
        self.raw = raw
        self.watch = watch
        self.cpu = cpu
        self.measurements: dict[str, Measurement] = {}

    def measure(
        self,
        key: str,
        title: str,
        base_url: str,
        load: Load,
        *,
        warmup: Load | None = None,
        limit_roots: Mapping[str, int] | None = None,
    ) -> None:
        seconds, warm = self.config.duration_seconds, self.config.warmup_seconds
        print(f"  {title}: {warm} s warm-up, {seconds} s at {load.connections} connections")
        self.watch.label = key
        try:
            run_wrk(base_url, warmup or load, seconds=warm, output=self.raw / f"{key}.warmup.txt")
            before = self.cpu.snapshot(limit_roots or {})
            result = run_wrk(base_url, load, seconds=seconds, output=self.raw / f"{key}.txt")
            used = CpuMeter.used(before, self.cpu.snapshot(limit_roots or {}))
        finally:
            self.watch.label = "idle"
        requests = max(result.requests, 1)
        self.measurements[key] = Measurement(
            key,
            title,
            load.connections,
            result,
            cpu_ms={part: 1000 * spent / requests for part, spent in used.cpu_seconds.items()},
            database_connections_per_second=used.database_sessions / result.duration_s,
            database_active_ms=used.database_active_ms / requests,
        )
        extra = f", {result.per_second('logins'):,.0f} logins/s" if key == report.LOGIN else ""
        print(
            f"    {result.rps:8,.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
            f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}{extra}",
            flush=True,
        )


def replay(file: Path, connections: int, *, stateful: bool = False) -> Load:
    threads = thread_count(connections, stateful=stateful)
    return Load("replay.lua", (str(file), str(threads)), connections, stateful=stateful)


def typical_users(layout: Layout, scale: int) -> list[int]:
    population = range(1, layout.general_at(scale) + 1)
    return Random(scale).sample(population, min(PROFILE_USERS, len(population)))


def write_static_profile(gateway: str, tokens_file: Path, static_root: Path) -> int:
    """Serve, as a file, a typical profile: the median-sized one of a sample."""
    tokens = [line.split("\t")[2] for line in tokens_file.read_text().splitlines()]
    bodies = []
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for token in tokens[:STATIC_SAMPLE]:
            response = client.get(PROFILE_PATH, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise RuntimeError(f"profile answered {response.status_code}: {response.text}")
            bodies.append(response.content)
    body = sorted(bodies, key=len)[len(bodies) // 2]
    target = static_root / STATIC_PROFILE.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return len(body)


def new_raw_dir(parent: Path, started: datetime) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    for old in sorted(parent.iterdir())[: -(KEEP_RAW_RUNS - 1) or None]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    raw = parent / started.strftime("%Y%m%dT%H%M%SZ")
    raw.mkdir()
    return raw


def forget_bulk(raw: Path) -> None:
    """Drop the request files (bearer tokens, tens of MB) and the limit's access log."""
    for path in [*raw.glob("*.tsv"), raw / "limit-nginx" / "access.log"]:
        path.unlink(missing_ok=True)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} x {model}, {memory_kib / 2**20:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at the start {load}"
    )


@contextmanager
def fresh_stores(config: BenchConfig) -> Iterator[None]:
    """Empty databases and Redis db for the run; dropped and flushed after it."""
    redis = redis_from_url(config.redis_url)
    try:
        redis.flushdb()
        reset_databases(config)
        yield
    finally:
        if not config.keep_data:
            drop_databases(config)
            redis.flushdb()
        redis.close()


def run(config: BenchConfig) -> tuple[Run, Path]:
    layout = check_scales(config.scales)
    started = datetime.now(UTC)
    clock = time.monotonic()
    raw = new_raw_dir(config.raw_dir, started)
    ports = Ports.free()
    gateway = f"http://127.0.0.1:{ports.gateway}"
    limit = f"http://127.0.0.1:{ports.limit}"
    connections = config.connections
    rng = Random(7)
    host = machine()
    print(f"make bench: raw output in {raw}", flush=True)
    print(f"  {host}", flush=True)

    with ExitStack() as cleanup:
        cleanup.callback(forget_bulk, raw)
        print("preparing databases (bench_auth, bench_referral) and the signing key", flush=True)
        cleanup.enter_context(fresh_stores(config))
        var_dir = raw / "var"
        minter = TokenMinter(stack_key_file(var_dir))
        seed_scale(config, layout, previous=0, scale=config.scales[0])
        print(f"starting the stack ({config.workers} worker(s) per service)", flush=True)
        roots = cleanup.enter_context(running_stack(config, ports, var_dir, raw / "stack.log"))
        watch = cleanup.enter_context(MemoryWatch(roots))
        cpu = CpuMeter(
            roots,
            stats_url=config.database_url("postgres"),
            databases=[config.auth_database, config.referral_database],
        )
        bench = Bench(config, raw, watch, cpu)

        previous = config.scales[0]
        for scale in config.scales:
            if scale != previous:
                seed_scale(config, layout, previous=previous, scale=scale)
                previous = scale
            print(f"minting tokens for {scale_label(scale)} users", flush=True)
            users = typical_users(layout, scale)
            profiles = requests.write(
                raw / f"{profile_key(scale)}.tsv", requests.profile_lines(minter, users)
            )
            bench.measure(
                profile_key(scale),
                f"profile GET, typical user, {scale_label(scale)} users",
                gateway,
                replay(profiles, connections),
            )

        print("minting tokens for the limits, the 100k-invitee user and activations", flush=True)
        static_root = raw / "limit-root"
        static_bytes = write_static_profile(gateway, profiles, static_root)
        static = requests.write(raw / "static.tsv", requests.static_lines(minter, users))
        bare = requests.write(raw / "bare.tsv", requests.bare_lines(minter, users))
        bare_heavy = requests.write(
            raw / "bare_heavy.tsv", requests.bare_lines(minter, [layout.heavy] * HEAVY_TOKENS)
        )
        heavy = requests.write(
            raw / "heavy.tsv", requests.profile_lines(minter, [layout.heavy] * HEAVY_TOKENS)
        )
        pool = layout.pool
        activation_warmup = requests.write(
            raw / "activation.warmup.tsv",
            requests.activation_lines(minter, layout, pool[:WARMUP_ACTIVATORS], rng),
        )
        activation = requests.write(
            raw / "activation.tsv",
            requests.activation_lines(minter, layout, pool[WARMUP_ACTIVATORS:], rng),
        )
        print("starting the limit: the gateway's nginx configuration and a bare app", flush=True)
        with running_limit(
            config,
            ports,
            key_file=stack_key_file(var_dir),
            static_root=static_root,
            workdir=raw / "limit-nginx",
            log_dir=raw,
        ) as limit_roots:
            bench.measure(
                report.LIMIT_STATIC,
                f"limit: nginx, static JSON ({static_bytes} B)",
                limit,
                replay(static, connections),
                limit_roots=limit_roots,
            )
            bench.measure(
                report.LIMIT_BARE,
                "limit: nginx → bare ASGI + psycopg2, typical user",
                limit,
                replay(bare, connections),
                limit_roots=limit_roots,
            )
            bench.measure(
                report.LIMIT_BARE_VERIFIED,
                "limit: the same + token check (EdDSA, Redis revocation list)",
                limit,
                replay(profiles, connections),
                limit_roots=limit_roots,
            )
            bench.measure(
                report.LIMIT_BARE_HEAVY,
                "limit: nginx → bare ASGI + psycopg2, 100k-invitee user",
                limit,
                replay(bare_heavy, connections),
                limit_roots=limit_roots,
            )
        bench.measure(
            report.PROFILE_HEAVY,
            "profile GET, the 100k-invitee user",
            gateway,
            replay(heavy, connections),
        )
        bench.measure(
            report.ACTIVATION,
            "activation (15% walk the 10k chain, 5% refused as cycles)",
            gateway,
            replay(activation, connections, stateful=True),
            warmup=replay(activation_warmup, connections, stateful=True),
        )
        bench.measure(
            report.LOGIN,
            "sign-in: number_input → dev inbox → otp_input",
            gateway,
            Load("login.lua", ("2",), connections, stateful=True),
            warmup=Load("login.lua", ("1",), connections, stateful=True),
        )
        print("stopping the stack", flush=True)

    workers = f"{config.workers} uvicorn worker(s) per service"
    summary = Run(
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        machine=host,
        settings=(
            f"{workers}; each run {config.warmup_seconds} s warm-up + {config.duration_seconds} s "
            f"of wrk at {connections} connections; {ACTIVATION_POOL:,} fresh activators"
        ),
        scales=config.scales,
        measurements=bench.measurements,
        memory=watch.peaks(),
        static_bytes=static_bytes,
        elapsed_seconds=time.monotonic() - clock,
        cores=os.cpu_count() or 1,
    )
    return summary, raw


def _stop_on_sigterm(signum: int, _: FrameType | None) -> None:
    # Unwinds like Ctrl-C, so every process this run started is stopped on the way out.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    config = load_config()
    result, raw = run(config)
    print()
    print(report.write_all(result, config.results_dir, raw))
    failed = [target.name for target in report.targets(result) if not target.holds]
    print(f"{len(failed)} target(s) not met" if failed else "every target met", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
