"""The run's figures as a markdown summary (targets included), a PNG chart and raw JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

from bench.cpu import GROUP_LABELS, HARNESS, LOAD_GENERATOR, POSTGRES, POSTGRES_SERVER, REDIS
from bench.memory import ProcessPeak
from bench.wrk import WrkResult

LIMIT_STATIC = "limit_static"
LIMIT_BARE = "limit_bare"
LIMIT_BARE_HEAVY = "limit_bare_heavy"
LIMIT_BARE_VERIFIED = "limit_bare_verified"
PROFILE_ONE = "profile_one"
PROFILE_HEAVY = "profile_heavy"
ACTIVATION = "activation"
ADMIN_SEARCH = "admin_search"
LOGIN = "login"

# The targets (issue 8).
ONE_USER_RPS, ONE_USER_P99_MS = 1_400, 50
COLD_RPS, COLD_P99_MS = 700, 100
HEAVY_P50_RATIO = 1.5
SCALE_P50_RATIO = 1.3
LOGINS_PER_SECOND = 300
ACTIVATION_RPS, ACTIVATION_P99_MS = 600, 50
# The operator console's user search at the largest scale (issue 13: fast on 1M users).
ADMIN_SEARCH_P99_MS = 100
# "150 MB" read as ps and top count it: MiB (150 MiB = 157 decimal MB).
RSS_LIMIT_MIB = 150
# The processes the RSS target is about: the stack's (the limit's bare app is a yardstick).
STACK_PARTS = ("auth", "referral", "profile", "gateway", "stack")

# Short names of the runs, for the columns of the per-process table and the chart.
SHORT = {
    LIMIT_STATIC: "limit static",
    LIMIT_BARE: "limit bare",
    LIMIT_BARE_VERIFIED: "limit bare+token",
    LIMIT_BARE_HEAVY: "limit bare 100k",
    PROFILE_ONE: "one user",
    PROFILE_HEAVY: "100k-invitee",
    ACTIVATION: "activation",
    ADMIN_SEARCH: "admin search",
    LOGIN: "sign-in",
}


def cold_key(scale: int) -> str:
    return f"profile_cold_{scale_label(scale)}"


def scale_label(scale: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if scale >= size and scale % size == 0:
            return f"{scale // size}{suffix}"
    return str(scale)


def short_name(key: str) -> str:
    if key.startswith("profile_cold_"):
        return f"cold {key.removeprefix('profile_cold_')}"
    return SHORT.get(key, key)


@dataclass(frozen=True)
class ColdFigures:
    """How the cold run went: its pattern, how much of it the measured run sent, its misses."""

    users: int
    uses: int
    gap: int
    ramp_lines: int
    ramp_requests: int
    ramp_errors: int
    steady_lines: int
    documents_dropped: int
    # Profile documents stored during the measured run: one per miss.
    misses: int

    def miss_share(self, requests: int) -> float:
        return self.misses / requests if requests else float("nan")


@dataclass(frozen=True)
class Measurement:
    key: str
    title: str
    connections: int
    threads: int
    result: WrkResult
    # CPU milliseconds per request, by part (nginx, each service, PostgreSQL, Redis, wrk) and
    # by process (each uvicorn supervisor and worker, each nginx process, ...).
    cpu_ms: dict[str, float]
    cpu_ms_by_process: dict[str, float]
    # From PostgreSQL's statistics on the bench databases.
    database_connections_per_second: float
    database_transactions: float  # per request
    database_active_ms: float  # per request
    # Shares of all the machine's CPU time during the measured run: busy (anyone), used by
    # processes outside the tables (this harness included), stolen by the hypervisor.
    machine_busy: float = float("nan")
    machine_interrupts: float = float("nan")
    machine_other: float = float("nan")
    machine_stolen: float = float("nan")
    cold: ColdFigures | None = None

    def with_cold(self, figures: ColdFigures) -> Measurement:
        return replace(self, cold=figures)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    value: float
    threshold: float
    at_most: bool  # the value must be <= threshold (else >=)
    versus_limit: str

    @property
    def holds(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= self.threshold if self.at_most else self.value >= self.threshold

    @property
    def wanted(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {_number(self.threshold)}"


@dataclass(frozen=True)
class Run:
    """Everything one run measured, with what the summary says about the machine and settings."""

    started: str
    machine: str
    settings: str
    workers: dict[str, int]
    scales: tuple[int, ...]
    measurements: dict[str, Measurement]
    memory: list[ProcessPeak]
    static_bytes: int
    elapsed_seconds: float
    cores: int

    def result(self, key: str) -> WrkResult:
        return self.measurements[key].result


def stack_processes(run: Run) -> list[ProcessPeak]:
    return [peak for peak in run.memory if peak.part in STACK_PARTS]


def targets(run: Run) -> list[Target]:
    bare, verified = run.result(LIMIT_BARE), run.result(LIMIT_BARE_VERIFIED)
    static = run.result(LIMIT_STATIC)
    one, heavy = run.result(PROFILE_ONE), run.result(PROFILE_HEAVY)
    small = run.result(cold_key(run.scales[0]))
    top = run.result(cold_key(run.scales[-1]))
    activation, login = run.result(ACTIVATION), run.result(LOGIN)
    search = run.result(ADMIN_SEARCH)
    top_label, small_label = scale_label(run.scales[-1]), scale_label(run.scales[0])
    cold_users = run.measurements[cold_key(run.scales[-1])].cold
    users = f"{cold_users.users:,}" if cold_users else "?"
    profile_runs = [m for key, m in run.measurements.items() if key.startswith("profile_")]
    profile_errors = sum(m.result.errors for m in profile_runs)
    largest = max(stack_processes(run), key=lambda peak: peak.hwm_mib, default=None)
    largest_mib = largest.hwm_mib if largest else float("nan")
    cycles = activation.statuses.get("409", 0)
    return [
        Target(
            "profile GET, one user again and again: req/s",
            f"{one.rps:,.0f} req/s",
            one.rps,
            ONE_USER_RPS,
            at_most=False,
            versus_limit=f"{one.rps / static.rps:.3f} x static, {one.rps / bare.rps:.2f} x bare",
        ),
        Target(
            "profile GET, one user again and again: p99",
            _ms(one.p99_ms),
            one.p99_ms,
            ONE_USER_P99_MS,
            at_most=True,
            versus_limit=f"{one.p99_ms / static.p99_ms:.1f} x static",
        ),
        Target(
            "profile GET, one user again and again: errors",
            _errors(one),
            one.errors,
            0,
            at_most=True,
            versus_limit="",
        ),
        Target(
            f"profile GET, {users} users x 3, cold, {top_label} seeded: req/s",
            f"{top.rps:,.0f} req/s",
            top.rps,
            COLD_RPS,
            at_most=False,
            versus_limit=f"{top.rps / bare.rps:.2f} x bare, "
            f"{top.rps / verified.rps:.2f} x bare+token",
        ),
        Target(
            f"profile GET, {users} users x 3, cold, {top_label} seeded: p99",
            _ms(top.p99_ms),
            top.p99_ms,
            COLD_P99_MS,
            at_most=True,
            versus_limit=f"{top.p99_ms / verified.p99_ms:.1f} x bare+token",
        ),
        Target(
            "profile GET errors, every profile run (not an issue-8 target)",
            f"{profile_errors}",
            profile_errors,
            0,
            at_most=True,
            versus_limit="",
        ),
        Target(
            f"p50 of the 100k-invitee user ≤ {HEAVY_P50_RATIO} x one typical user's",
            f"{_ms(heavy.p50_ms)} vs {_ms(one.p50_ms)}",
            heavy.p50_ms / one.p50_ms,
            HEAVY_P50_RATIO,
            at_most=True,
            versus_limit=f"bare, same users: {_ratio(run, LIMIT_BARE_HEAVY, LIMIT_BARE)}",
        ),
        Target(
            f"cold profile p50 at {top_label} ≤ {SCALE_P50_RATIO} x at {small_label} seeded",
            f"{_ms(top.p50_ms)} vs {_ms(small.p50_ms)}",
            top.p50_ms / small.p50_ms,
            SCALE_P50_RATIO,
            at_most=True,
            versus_limit=f"{top.p50_ms / verified.p50_ms:.1f} x bare+token p50",
        ),
        Target(
            "completed logins per second",
            f"{login.per_second('logins'):,.0f} /s ({login.rps:,.0f} req/s)",
            login.per_second("logins"),
            LOGINS_PER_SECOND,
            at_most=False,
            versus_limit=f"{login.rps / bare.rps:.2f} x bare req/s",
        ),
        Target(
            "activation: p99",
            _ms(activation.p99_ms),
            activation.p99_ms,
            ACTIVATION_P99_MS,
            at_most=True,
            versus_limit=f"{activation.p99_ms / bare.p99_ms:.1f} x bare",
        ),
        Target(
            "activation: req/s",
            f"{activation.rps:,.0f} req/s",
            activation.rps,
            ACTIVATION_RPS,
            at_most=False,
            versus_limit=f"{activation.rps / bare.rps:.2f} x bare",
        ),
        Target(
            "activation: answers other than 200 or the cycle lines' 409 (not an issue-8 target)",
            f"{_errors(activation)}; 409 referral_cycle: {cycles:,} answers, "
            f"{activation.counters.get('refusals_awaited', 0):,.0f} cycle lines answered "
            f"({cycles / max(activation.requests, 1):.1%} of answers; 5 % of the lines)",
            activation.errors,
            0,
            at_most=True,
            versus_limit="",
        ),
        Target(
            f"operator user search among {top_label} users: p99 (issue 13)",
            f"{_ms(search.p99_ms)} at {search.rps:,.0f} req/s",
            search.p99_ms,
            ADMIN_SEARCH_P99_MS,
            at_most=True,
            versus_limit=f"{search.p99_ms / bare.p99_ms:.1f} x bare",
        ),
        Target(
            "operator user search: answers other than 200 (issue 13)",
            _errors(search),
            search.errors,
            0,
            at_most=True,
            versus_limit="",
        ),
        Target(
            f"every process of the stack ≤ {RSS_LIMIT_MIB} MB RSS (peak VmHWM, MiB)",
            f"largest: {largest.label} {largest_mib:.0f} MiB" if largest else "n/a",
            largest_mib,
            RSS_LIMIT_MIB,
            at_most=True,
            versus_limit=f"{len(stack_processes(run))} processes",
        ),
    ]


def markdown(run: Run) -> str:
    lines = [
        "# Benchmark: latest run",
        "",
        f"{run.started} · {run.machine}",
        "",
        f"{run.settings}. Reproduce with `make bench` (details in `bench/README.md`); "
        f"this run took {run.elapsed_seconds / 60:.1f} min.",
        "",
        *_disturbance(run),
        "## Targets",
        "",
        "| target | measured | value | wanted | against the limits | result |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for target in targets(run):
        verdict = "pass" if target.holds else "**FAIL**"
        lines.append(
            f"| {target.name} | {target.measured} | {_number(target.value)} | {target.wanted} "
            f"| {target.versus_limit} | {verdict} |"
        )
    bare, static = run.result(LIMIT_BARE), run.result(LIMIT_STATIC)
    lines += [
        "",
        "## Every run",
        "",
        "Ratios are to this run's limits: **x bare** to the bare-query limit (the same nginx "
        "configuration in front of a raw ASGI app running the profile's indexed queries with "
        "psycopg2), **x static** to nginx serving a static JSON file of the typical user's "
        f"profile ({run.static_bytes} bytes).",
        "",
        "| run | conns / threads | s | req/s | x bare | x static | p50 ms | x bare | p99 ms "
        "| x bare | max ms | answers | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for measurement in run.measurements.values():
        r = measurement.result
        lines.append(
            f"| {measurement.title} | {measurement.connections} / {measurement.threads} "
            f"| {r.duration_s:.1f} | {r.rps:,.0f} "
            f"| {r.rps / bare.rps:.2f} | {r.rps / static.rps:.3f} "
            f"| {r.p50_ms:.1f} | {r.p50_ms / bare.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.p99_ms / bare.p99_ms:.1f} "
            f"| {r.max_ms:.0f} | {_statuses(r)} | {r.errors} |"
        )
    lines += ["", *_cold_table(run), "", *_cpu_table(run), "", *_process_cpu_table(run)]
    login = run.result(LOGIN)
    lines += [
        "",
        f"Sign-in: {login.counters.get('logins', 0):,.0f} logins completed in "
        f"{login.duration_s:.1f} s (three requests each).",
        "",
        *_memory_table(run),
        "",
        "![latency and throughput](latest.png)",
        "",
    ]
    return "\n".join(lines)


# A run during which other programs used more of the machine than this was disturbed.
DISTURBED_SHARE = 0.10


def _disturbance(run: Run) -> list[str]:
    disturbed = {
        short_name(key): m.machine_other
        for key, m in run.measurements.items()
        if m.machine_other > DISTURBED_SHARE
    }
    if not disturbed:
        return []
    worst = ", ".join(f"{name} {100 * share:.0f} %" for name, share in disturbed.items())
    return [
        f"**Disturbed:** other programs used more than {DISTURBED_SHARE:.0%} of the machine's "
        f"CPU during {len(disturbed)} of {len(run.measurements)} runs ({worst}): their "
        "throughput and latency are worse than this machine can do; CPU per request and the "
        "ratios within a run hold better (see *machine busy / interrupts / others* below).",
        "",
    ]


def _cold_table(run: Run) -> list[str]:
    lines = [
        "## The cold runs",
        "",
        "Each cold run starts with no stored profile document (every `profile:*` key of the "
        "stack's Redis database dropped) and tokens the services have not seen. Its request "
        "file uses each user's token 3 times: slot k sends user k's first request, user "
        "k - gap's second and user k - 2 gap's third, so after a ramp of 3 x gap requests "
        "(sent before the measured run) one request in three is a first use. *Misses* are the "
        "profile documents stored during the measured run (one per first use answered).",
        "",
        "| run | users | gap | ramp sent | measured requests | of the steady lines "
        "| misses | miss share | PG transactions / request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for measurement in run.measurements.values():
        cold = measurement.cold
        if cold is None:
            continue
        r = measurement.result
        lines.append(
            f"| {measurement.title} | {cold.users:,} | {cold.gap} "
            f"| {cold.ramp_requests:,} of {cold.ramp_lines:,}"
            f"{f' ({cold.ramp_errors} errors)' if cold.ramp_errors else ''} | {r.requests:,} "
            f"| {r.requests / cold.steady_lines:.0%} of {cold.steady_lines:,}"
            f"{' (all sent)' if r.stopped_early else ''} | {cold.misses:,} "
            f"| {cold.miss_share(r.requests):.1%} | {measurement.database_transactions:.2f} |"
        )
    return lines


# Columns of the CPU table: the parts of the system a request can spend time in.
_CPU_PARTS = (
    ("nginx", ("gateway", "nginx")),
    ("auth", ("auth",)),
    ("referral", ("referral",)),
    ("profile", ("profile",)),
    ("bare app", ("bare",)),
    ("stack runner", ("stack",)),
    ("PG backends", (POSTGRES,)),
    ("PG server (shared)", (POSTGRES_SERVER,)),
    ("Redis (shared)", (REDIS,)),
)


def _cpu_table(run: Run) -> list[str]:
    cores = run.cores
    lines = [
        "## Where the CPU goes",
        "",
        "CPU milliseconds per request in each part: user + system time over the measured run "
        "(from /proc, before and after), divided by the requests completed. *PG backends*: "
        "the server processes of the bench databases (those still connected at the end); "
        "*PG server* (postmaster, WAL writer, checkpointer, and every PostgreSQL process that "
        "exited during the run: parallel and autovacuum workers, closed connections) and "
        "*Redis* are whole servers, so they also count any other client's work. wrk counts "
        "sending the load, not reading its request file; *harness* is this benchmark's own "
        "process (sampling /proc, waiting on wrk). *New PG connections/s*, *PG transactions* "
        "and *PG active ms* (time spent executing statements, per request) come from "
        "PostgreSQL's statistics of the bench databases. *Server total* leaves wrk and the "
        f"harness out; *ceiling* is what {cores} cores could serve at that cost if nothing "
        "else ran: a run far below its ceiling waited on locks, queues or other processes, "
        "one near it is CPU-bound. *Machine busy / interrupts / others / stolen*: shares of all "
        "the cores' time during the run (from /proc/stat): busy with anything, of it in "
        "interrupts (much of loopback networking, no process's), used by processes outside "
        "this table; and taken by the hypervisor. A run with a large *others* share was "
        "disturbed.",
        "",
        "| run | " + " | ".join(name for name, _ in _CPU_PARTS) + " | server total | wrk "
        "| harness | ceiling req/s | new PG connections/s | PG transactions / request "
        "| PG active ms | machine busy / interrupts / others / stolen % |",
        "|---|" + "---:|" * (len(_CPU_PARTS) + 8),
    ]
    for measurement in run.measurements.values():
        cpu = measurement.cpu_ms
        parts = [sum(cpu.get(key, 0.0) for key in keys) for _, keys in _CPU_PARTS]
        total = sum(parts)
        cells = " | ".join(f"{value:.2f}" if value else "" for value in parts)
        ceiling = cores * 1000 / total if total else float("nan")
        lines.append(
            f"| {measurement.title} | {cells} | {total:.2f} | {cpu.get(LOAD_GENERATOR, 0.0):.2f} "
            f"| {cpu.get(HARNESS, 0.0):.2f} | {ceiling:,.0f} "
            f"| {measurement.database_connections_per_second:.1f} "
            f"| {measurement.database_transactions:.2f} | {measurement.database_active_ms:.2f} "
            f"| {_percent(measurement.machine_busy)} / "
            f"{_percent(measurement.machine_interrupts)} / {_percent(measurement.machine_other)} "
            f"/ {_percent(measurement.machine_stolen)} |"
        )
    return lines


def _process_cpu_table(run: Run) -> list[str]:
    labels: list[str] = []
    for measurement in run.measurements.values():
        for label in measurement.cpu_ms_by_process:
            if label not in labels:
                labels.append(label)
    order = {label: index for index, label in enumerate(labels)}
    shared = set(GROUP_LABELS.values()) | {LOAD_GENERATOR, "bench harness"}
    labels.sort(key=lambda label: (label in shared, order[label]))
    keys = list(run.measurements)
    lines = [
        "## CPU per request, process by process",
        "",
        "The same CPU milliseconds per request, for every process on its own (a uvicorn "
        "supervisor and each worker, nginx's master and each worker); empty: the process did "
        "not exist or used no measurable CPU (the clock ticks every 10 ms).",
        "",
        "| process | " + " | ".join(short_name(key) for key in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for label in labels:
        cells = []
        for key in keys:
            value = run.measurements[key].cpu_ms_by_process.get(label, 0.0)
            cells.append(f"{value:.2f}" if value > 0.005 else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _memory_table(run: Run) -> list[str]:
    lines = [
        "## Memory of every process",
        "",
        f"Peak RSS is the kernel's own high-water mark (VmHWM) over the process's whole life, "
        f"start-up included; the largest sample is the highest VmRSS read every 0.25 s, with "
        f"the run going on then. The target is every process of the stack (services, gateway, "
        f"the stack's runner) at most {RSS_LIMIT_MIB} MB, read as ps and top count it (MiB); "
        f"the limit's bare app and nginx are shown for comparison.",
        "",
        f"| process | pid | peak RSS MiB | largest sample MiB | during | ≤ {RSS_LIMIT_MIB} MiB |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for peak in run.memory:
        within = peak.hwm_mib <= RSS_LIMIT_MIB
        verdict = ("yes" if within else "**no**") if peak.part in STACK_PARTS else ""
        lines.append(
            f"| {peak.label} | {peak.pid} | {peak.hwm_mib:.0f} | {peak.rss_max_mib:.0f} "
            f"| {short_name(peak.rss_max_during)} | {verdict} |"
        )
    totals: dict[str, float] = {}
    for peak in run.memory:
        totals[peak.part] = totals.get(peak.part, 0.0) + peak.hwm_mib
    lines += [
        "",
        "Summed per part (peaks of different moments, so an upper bound): "
        + ", ".join(f"{part} {mib:.0f} MiB" for part, mib in totals.items())
        + ".",
    ]
    return lines


_RUN_TARGETS = {
    # run key: (req/s at least, p99 ms at most)
    PROFILE_ONE: (ONE_USER_RPS, ONE_USER_P99_MS),
    ACTIVATION: (ACTIVATION_RPS, ACTIVATION_P99_MS),
}


def chart(run: Run, path: Path) -> None:
    figure, (throughput, latency, scaling) = plt.subplots(
        1, 3, figsize=(18, 6.5), gridspec_kw={"width_ratios": [1.25, 1.25, 0.8]}
    )
    measurements = list(run.measurements.values())
    names = [m.title for m in measurements]
    results = [m.result for m in measurements]
    is_limit = [m.key.startswith("limit_") for m in measurements]
    positions = list(range(len(names)))
    run_targets = dict(_RUN_TARGETS)
    run_targets[cold_key(run.scales[-1])] = (COLD_RPS, COLD_P99_MS)
    login = run.result(LOGIN)
    # Sign-in's target is in logins: three requests each.
    requests_per_login = login.requests / max(login.counters.get("logins", 0.0), 1.0)
    rps_targets: dict[str, float] = {key: rps for key, (rps, _) in run_targets.items()}
    rps_targets[LOGIN] = LOGINS_PER_SECOND * requests_per_login

    bare_rps = run.result(LIMIT_BARE).rps
    throughput.barh(
        positions,
        [r.rps for r in results],
        color=["#9e9e9e" if limit else "#1f77b4" for limit in is_limit],
    )
    for index, (m, r) in enumerate(zip(measurements, results, strict=True)):
        target = rps_targets.get(m.key)
        label = f"{r.rps:,.0f} ({r.rps / bare_rps:.2f}x bare)"
        if target is not None:
            throughput.plot([target, target], [index - 0.4, index + 0.4], color="#d62728", lw=2)
            label += f", target {target:,.0f}"
            if m.key == LOGIN:
                label += f" ({LOGINS_PER_SECOND} logins/s)"
        throughput.text(max(r.rps, target or 0) * 1.15, index, label, va="center", fontsize=7)
    throughput.plot([], [], color="#d62728", lw=2, label="target")
    throughput.set_xlim(left=10, right=max(r.rps for r in results) * 60)
    throughput.set_yticks(positions, names, fontsize=8)
    throughput.invert_yaxis()
    throughput.set_xscale("log")
    throughput.set_xlabel("requests per second (log; grey: limits)")
    throughput.set_title("Throughput")
    throughput.legend(loc="lower right", fontsize=8)

    width = 0.4
    latency.barh(
        [p - width / 2 for p in positions], [r.p50_ms for r in results], width, label="p50"
    )
    latency.barh(
        [p + width / 2 for p in positions], [r.p99_ms for r in results], width, label="p99"
    )
    for index, (m, r) in enumerate(zip(measurements, results, strict=True)):
        target = run_targets.get(m.key, (0, None))[1]
        label = f"{r.p50_ms:.1f} / {r.p99_ms:.0f} ms"
        if target is not None:
            latency.plot([target, target], [index, index + 0.45], color="#d62728", lw=2)
            label += f" (p99 ≤ {target})"
        latency.text(max(r.p99_ms, target or 0) * 1.15, index, label, va="center", fontsize=7)
    latency.plot([], [], color="#d62728", lw=2, label="p99 target")
    latency.set_xlim(left=0.2, right=max(r.p99_ms for r in results) * 20)
    latency.set_yticks(positions, [""] * len(names))
    latency.invert_yaxis()
    latency.set_xscale("log")
    latency.set_xlabel("milliseconds (log): p50 / p99")
    latency.set_title("Latency")
    latency.legend(loc="lower right", fontsize=8)

    scales = list(run.scales)
    cold = [run.result(cold_key(scale)) for scale in scales]
    scaling.plot(scales, [r.p50_ms for r in cold], marker="o", label="cold run p50")
    scaling.plot(scales, [r.p99_ms for r in cold], marker="o", label="cold run p99")
    scaling.axhline(
        COLD_P99_MS, color="#d62728", linestyle="--", linewidth=1, label="p99 target (largest)"
    )
    scaling.axhline(
        run.result(LIMIT_BARE_VERIFIED).p50_ms,
        color="#9e9e9e",
        linestyle=":",
        label="bare + token p50",
    )
    scaling.set_xscale("log")
    scaling.set_xticks(scales, [scale_label(scale) for scale in scales])
    scaling.set_ylim(bottom=0)
    scaling.set_xlabel("seeded users")
    scaling.set_ylabel("milliseconds")
    scaling.set_title("Cold profile run against scale")
    scaling.legend(fontsize=8)

    figure.suptitle(f"make bench · {run.started} · {run.settings}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def raw_json(run: Run) -> str:
    return json.dumps(
        {
            "started": run.started,
            "machine": run.machine,
            "settings": run.settings,
            "workers": run.workers,
            "scales": run.scales,
            "static_bytes": run.static_bytes,
            "elapsed_seconds": run.elapsed_seconds,
            "cores": run.cores,
            "measurements": {key: asdict(m) for key, m in run.measurements.items()},
            "memory": [asdict(peak) for peak in run.memory],
            "targets": [{**asdict(t), "holds": t.holds} for t in targets(run)],
        },
        indent=2,
    )


def _statuses(result: WrkResult) -> str:
    counts = ", ".join(f"{status}: {n:,}" for status, n in sorted(result.statuses.items()))
    if result.socket_errors:
        counts += f", socket errors: {result.socket_errors:,}"
    return counts


def _errors(result: WrkResult) -> str:
    if not result.errors:
        return "0"
    return f"{result.errors} ({_statuses(result)})"


def _ratio(run: Run, key: str, base: str) -> str:
    a, b = run.result(key), run.result(base)
    return f"p50 {a.p50_ms:.1f} vs {b.p50_ms:.1f} ms = {a.p50_ms / b.p50_ms:.2f} x"


def _percent(share: float) -> str:
    # Clock ticks make a share of nothing come out slightly negative now and then.
    return "n/a" if math.isnan(share) else f"{max(100 * share, 0):.0f}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"


def write_all(run: Run, results_dir: Path, raw_dir: Path) -> str:
    text = markdown(run)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.md").write_text(text)
    chart(run, results_dir / "latest.png")
    (raw_dir / "results.json").write_text(raw_json(run))
    return text
