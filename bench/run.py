"""`python -m bench.run` (what `make bench` runs): seed, start the stack, load it, report.

  1. fresh bench databases with the services' migrations, the first scale seeded
  2. the native stack (`runmodes.stack`) on free ports, its login limits raised, each
     service's workers from the environment
  3. at each scale, the cold profile run (10,000 users, each token used 3 times, starting with
     no stored profile document), seeding the next scale in between
  4. at the largest scale: this machine's limits (the gateway's nginx serving a static profile,
     and the same nginx in front of a bare app running the profile's queries), one user's
     profile again and again, the 100k-invitee user's, activations, the operator console's
     user search and sign-ins
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from types import FrameType

import httpx
from redis import Redis

from bench import report, requests
from bench.config import (
    ACTIVATION_POOL,
    COLD_GAP,
    COLD_USES,
    PROFILE_USERS,
    BenchConfig,
    load_config,
)
from bench.cpu import HARNESS, CpuMeter
from bench.memory import MemoryWatch
from bench.report import ColdFigures, Measurement, Run, cold_key, scale_label
from bench.requests import ColdPattern, tokens_for
from bench.seed import Layout, check_scales, drop_databases, reset_databases, seed_scale
from bench.servers import PROFILE_PATH, STATIC_PROFILE, Ports, running_limit, running_stack
from bench.tokens import TokenMinter, stack_key_file
from bench.wrk import Load, WrkResult, run_wrk, thread_count
from common.redis import redis_from_url

# Raw runs kept under bench/results/raw/ (each holds every log and wrk output of its run).
KEEP_RAW_RUNS = 3
WARMUP_ACTIVATORS = 10_000
# Operators searching at once: a console is used by a handful of people, not by 32.
ADMIN_SEARCH_CONNECTIONS = 4
# Users of a cold run's warm-up (other tokens than the run's; their documents are dropped).
WARMUP_USERS = 2_000
# Well within the stored documents' lifetime (PROFILE_CACHE_TTL_SECONDS, 60 s by default).
RAMP_SECONDS_AT_MOST = 20
# Typical profiles fetched to pick the typical user: the one with the median-sized body.
STATIC_SAMPLE = 101
# The stack's Redis keys of stored profile documents and their versions.
PROFILE_KEYS = "profile:*"
PROFILE_DOCUMENTS = "profile:doc:*"


@dataclass(frozen=True)
class Replay:
    """A request file and the part of it a run sends."""

    file: Path
    first: int = 0
    stop: int = 0  # 0: to the end
    once: bool = False

    def load(self, connections: int) -> Load:
        mode = "once" if self.once else "cycle"
        args = (str(self.file), str(thread_count(connections)), str(self.first), str(self.stop))
        script = "replay_once.lua" if self.once else "replay.lua"
        return Load(script, (*args, mode), connections, once=self.once)


class Bench:
    def __init__(
        self, config: BenchConfig, raw: Path, watch: MemoryWatch, cpu: CpuMeter, redis: Redis
    ) -> None:
        self.config = config
        self.raw = raw
        self.watch = watch
        self.cpu = cpu
        self.redis = redis
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
        """A warm-up, then the measured run with the CPU of every process around it."""
        seconds, warm = self.config.duration_seconds, self.config.warmup_seconds
        print(
            f"  {title}: {warm} s warm-up, {seconds} s at {load.connections} connections "
            f"({load.threads} wrk threads)",
            flush=True,
        )
        self.watch.label = key
        try:
            run_wrk(base_url, warmup or load, seconds=warm, output=self.raw / f"{key}.warmup.txt")
            self._measured(key, title, base_url, load, limit_roots=limit_roots)
        finally:
            self.watch.label = "idle"

    def measure_cold(
        self, key: str, title: str, base_url: str, pattern: ColdPattern, file: Path, warmup: Path
    ) -> None:
        """The cold profile run: no stored document at the start, a steady share of misses.

        1. warm-up with other tokens (other users where the scale has them);
        2. every stored profile document and version dropped;
        3. the ramp: the file's first lines, once, up to the steady state of the pattern;
        4. the measured run: the following lines, once, until they or the duration run out.
        The misses are the documents stored during the measured run (one per user whose first
        request it sent); there is no other reason for one to be stored then.
        """
        seconds, warm = self.config.duration_seconds, self.config.warmup_seconds
        connections = self.config.connections
        print(
            f"  {title}: {warm} s warm-up, a ramp of {pattern.ramp_lines} requests, up to "
            f"{seconds} s at {connections} connections ({thread_count(connections)} wrk threads)",
            flush=True,
        )
        self.watch.label = key
        try:
            run_wrk(
                base_url,
                Replay(warmup).load(connections),
                seconds=warm,
                output=self.raw / f"{key}.warmup.txt",
            )
            dropped = forget_profile_documents(self.redis)
            ramp = run_wrk(
                base_url,
                Replay(file, stop=pattern.ramp_lines, once=True).load(connections),
                # Ends when the ramp's last answer is in; the bound is only for a stack that
                # does not answer.
                seconds=RAMP_SECONDS_AT_MOST,
                output=self.raw / f"{key}.ramp.txt",
            )
            stored_before = set(keys_matching(self.redis, PROFILE_DOCUMENTS))
            result = self._measured(
                key,
                title,
                base_url,
                Replay(file, first=pattern.ramp_lines, once=True).load(connections),
            )
            # New keys only: a document stored before may expire meanwhile (its TTL).
            misses = len(set(keys_matching(self.redis, PROFILE_DOCUMENTS)) - stored_before)
        finally:
            self.watch.label = "idle"
        figures = ColdFigures(
            users=len(pattern.users),
            uses=pattern.uses,
            gap=pattern.gap,
            ramp_lines=pattern.ramp_lines,
            ramp_requests=ramp.requests,
            ramp_errors=ramp.errors,
            steady_lines=pattern.steady_lines,
            documents_dropped=dropped,
            misses=misses,
        )
        self.measurements[key] = self.measurements[key].with_cold(figures)
        print(
            f"    cold: {dropped:,} profile keys dropped first; ramp {ramp.requests:,} of "
            f"{pattern.ramp_lines:,} requests; measured {result.requests:,} of "
            f"{pattern.steady_lines:,} steady lines in {result.duration_s:.1f} s; "
            f"{misses:,} misses ({figures.miss_share(result.requests):.1%}, the pattern's "
            f"{1 / pattern.uses:.1%})",
            flush=True,
        )

    def _measured(
        self,
        key: str,
        title: str,
        base_url: str,
        load: Load,
        *,
        limit_roots: Mapping[str, int] | None = None,
    ) -> WrkResult:
        seconds = self.config.duration_seconds
        before = self.cpu.snapshot(limit_roots or {})
        result = run_wrk(base_url, load, seconds=seconds, output=self.raw / f"{key}.txt")
        used = CpuMeter.used(
            before, self.cpu.snapshot(limit_roots or {}), load_generator=result.cpu_seconds
        )
        requests_done = max(result.requests, 1)
        total = max(used.machine_total, 1e-9)
        self.measurements[key] = Measurement(
            key=key,
            title=title,
            connections=load.connections,
            threads=load.threads,
            result=result,
            cpu_ms={part: 1000 * spent / requests_done for part, spent in used.by_part.items()},
            cpu_ms_by_process={
                label: 1000 * spent / requests_done for label, spent in used.by_process.items()
            },
            database_connections_per_second=used.database.sessions / result.duration_s,
            database_transactions=used.database.transactions / requests_done,
            database_active_ms=used.database.active_ms / requests_done,
            machine_busy=used.machine_busy / total,
            machine_interrupts=used.machine_interrupts / total,
            # wrk's setup ran inside the window too, and is nobody else's.
            machine_other=(
                used.machine_busy
                - used.machine_interrupts
                - sum(used.by_part.values())
                - result.setup_cpu_seconds
            )
            / total,
            machine_stolen=used.machine_stolen / total,
        )
        extra = f", {result.per_second('logins'):,.0f} logins/s" if key == report.LOGIN else ""
        statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(result.statuses.items()))
        measured = self.measurements[key]
        print(
            f"    {result.rps:8,.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
            f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}{extra}  ({statuses}); "
            f"machine {measured.machine_busy:.0%} busy, {measured.machine_interrupts:.0%} "
            f"interrupts, {max(measured.machine_other, 0):.0%} others, "
            f"{measured.machine_stolen:.0%} stolen",
            flush=True,
        )
        return result


def scan(redis: Redis, pattern: str) -> Iterator[list[str]]:
    cursor = 0
    while True:
        cursor, keys = redis.scan(cursor, match=pattern, count=1000)
        if keys:
            yield [str(key) for key in keys]
        if cursor == 0:
            return


def forget_profile_documents(redis: Redis) -> int:
    """Drop every stored profile document and version (SCAN + DEL): the next run starts cold."""
    dropped = 0
    for keys in scan(redis, PROFILE_KEYS):
        dropped += redis.delete(*keys)
    return dropped


def keys_matching(redis: Redis, pattern: str) -> list[str]:
    return [key for keys in scan(redis, pattern) for key in keys]


def sample_users(layout: Layout, scale: int, count: int, seed: int) -> list[int]:
    population = range(1, layout.general_at(scale) + 1)
    return Random(seed).sample(population, min(count, len(population)))


def pick_typical_user(
    gateway: str, users: list[int], tokens: Mapping[int, str], static_root: Path
) -> tuple[int, int]:
    """The user whose profile body is the median of a sample's; the limit serves that body.

    Returns the user and the body's size.
    """
    bodies = []
    with httpx.Client(base_url=gateway, timeout=10, trust_env=False) as client:
        for user_id in users[:STATIC_SAMPLE]:
            response = client.get(
                PROFILE_PATH, headers={"Authorization": f"Bearer {tokens[user_id]}"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"profile answered {response.status_code}: {response.text}")
            bodies.append((len(response.content), user_id, response.content))
    size, user_id, body = sorted(bodies)[len(bodies) // 2]
    target = static_root / STATIC_PROFILE.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return user_id, size


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
def fresh_stores(config: BenchConfig) -> Iterator[Redis]:
    """Empty databases and Redis db for the run; dropped and flushed after it."""
    redis = redis_from_url(config.redis_url)
    try:
        redis.flushdb()
        reset_databases(config)
        yield redis
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
    workers = ", ".join(f"{name} {count}" for name, count in config.workers.items())
    print(f"make bench: raw output in {raw}", flush=True)
    print(f"  {host}", flush=True)

    with ExitStack() as cleanup:
        cleanup.callback(forget_bulk, raw)
        print("preparing databases (bench_auth, bench_referral) and the signing key", flush=True)
        redis = cleanup.enter_context(fresh_stores(config))
        var_dir = raw / "var"
        minter = TokenMinter(stack_key_file(var_dir))
        seed_scale(config, layout, previous=0, scale=config.scales[0])
        print(f"starting the stack (uvicorn workers: {workers})", flush=True)
        stack = cleanup.enter_context(running_stack(config, ports, var_dir, raw / "stack.log"))
        watch = cleanup.enter_context(MemoryWatch(stack.roots, singles={"stack": stack.runner}))
        cpu = CpuMeter(
            stack.roots,
            singles={
                "stack runner": ("stack", stack.runner),
                # This process: sampling /proc, polling wrk.
                "bench harness": (HARNESS, os.getpid()),
            },
            stats_url=config.database_url("postgres"),
            databases=[config.auth_database, config.referral_database],
        )
        bench = Bench(config, raw, watch, cpu, redis)

        previous = config.scales[0]
        for scale in config.scales:
            if scale != previous:
                watch.label = "seeding"
                seed_scale(config, layout, previous=previous, scale=scale)
                watch.label = "idle"
                previous = scale
            print(f"minting tokens for the cold run at {scale_label(scale)} users", flush=True)
            users = sample_users(layout, scale, PROFILE_USERS, seed=scale)
            pattern = ColdPattern.of(users, uses=COLD_USES, gap=COLD_GAP)
            tokens = tokens_for(minter, users)
            cold = requests.write(
                raw / f"{cold_key(scale)}.tsv", requests.profile_lines(pattern.order(), tokens)
            )
            warm_users = sample_users(layout, scale, WARMUP_USERS, seed=scale + 1)
            warm = requests.write(
                raw / f"{cold_key(scale)}.warmup.tsv",
                requests.profile_lines(
                    ColdPattern.of(warm_users, uses=COLD_USES, gap=COLD_GAP).order(),
                    tokens_for(minter, warm_users),
                ),
            )
            bench.measure_cold(
                cold_key(scale),
                f"profile GET, {len(users):,} users x {COLD_USES}, cold, "
                f"{scale_label(scale)} seeded",
                gateway,
                pattern,
                cold,
                warm,
            )

        print("minting tokens for the limits, one user, the 100k-invitee user, activations")
        order = pattern.order()
        half = len(order) // 2
        static_root = raw / "limit-root"
        typical, static_bytes = pick_typical_user(gateway, users, tokens, static_root)
        static = requests.write(raw / "static.tsv", requests.static_lines(order, tokens))
        bare = requests.write(raw / "bare.tsv", requests.bare_lines(order, tokens))
        heavy_token = minter.token(layout.heavy)
        bare_heavy = requests.write(
            raw / "bare_heavy.tsv",
            requests.repeated_lines(heavy_token, path=f"{PROFILE_PATH}?user_id={layout.heavy}"),
        )
        one = requests.write(raw / "one.tsv", requests.repeated_lines(minter.token(typical)))
        heavy = requests.write(raw / "heavy.tsv", requests.repeated_lines(heavy_token))
        pool = layout.pool
        activation_warmup = requests.write(
            raw / "activation.warmup.tsv",
            requests.activation_lines(
                minter, layout, pool[:WARMUP_ACTIVATORS], rng, threads=thread_count(connections)
            ),
        )
        activation = requests.write(
            raw / "activation.tsv",
            requests.activation_lines(
                minter, layout, pool[WARMUP_ACTIVATORS:], rng, threads=thread_count(connections)
            ),
        )
        # The operator is the first seeded user, given the role in its token as auth would.
        admin_search = requests.write(
            raw / "admin_search.tsv",
            requests.admin_search_lines(minter.token(1, roles=("admin",)), config.scales[-1], rng),
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
            watch.add(limit_roots)
            # The warm-ups send the second half of each file, the measured runs start at its
            # beginning: the bare app meets each token first in the measured run, as the cold
            # run's profile service does.
            for key, title, file in (
                (report.LIMIT_STATIC, f"limit: nginx, static JSON ({static_bytes} B)", static),
                (report.LIMIT_BARE, "limit: nginx → bare ASGI + psycopg2, 10k users", bare),
                (
                    report.LIMIT_BARE_VERIFIED,
                    "limit: the same + token check (EdDSA, cached per token; Redis revocation)",
                    cold,
                ),
                (
                    report.LIMIT_BARE_HEAVY,
                    "limit: nginx → bare ASGI + psycopg2, 100k-invitee user",
                    bare_heavy,
                ),
            ):
                bench.measure(
                    key,
                    title,
                    limit,
                    Replay(file).load(connections),
                    warmup=Replay(file, first=half if file != bare_heavy else 0).load(connections),
                    limit_roots=limit_roots,
                )
        bench.measure(
            report.PROFILE_ONE,
            f"profile GET, one typical user (id {typical}) again and again",
            gateway,
            Replay(one).load(connections),
        )
        bench.measure(
            report.PROFILE_HEAVY,
            "profile GET, the 100k-invitee user again and again",
            gateway,
            Replay(heavy).load(connections),
        )
        bench.measure(
            report.ACTIVATION,
            "activation (15% on the 10k-deep chain, 5% refused as cycles)",
            gateway,
            Replay(activation).load(connections),
            warmup=Replay(activation_warmup).load(connections),
        )
        bench.measure(
            report.ADMIN_SEARCH,
            f"operator search among {scale_label(config.scales[-1])} users "
            f"(phone prefixes, ids, newest; {ADMIN_SEARCH_CONNECTIONS} operators at once)",
            gateway,
            Replay(admin_search).load(ADMIN_SEARCH_CONNECTIONS),
        )
        bench.measure(
            report.LOGIN,
            "sign-in: number_input → dev inbox → otp_input",
            gateway,
            Load("login.lua", ("2",), connections),
            warmup=Load("login.lua", ("1",), connections),
        )
        print("stopping the stack", flush=True)

    summary = Run(
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        machine=host,
        settings=(
            f"uvicorn workers: {workers}; each run {config.warmup_seconds} s warm-up + "
            f"{config.duration_seconds} s of wrk at {connections} connections on "
            f"{thread_count(connections)} threads; {ACTIVATION_POOL:,} fresh activators"
        ),
        workers=dict(config.workers),
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
