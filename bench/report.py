"""The run's figures as a markdown summary (targets included), a PNG chart and raw JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): pyplot picks its backend on import

from bench.memory import Peak
from bench.wrk import WrkResult

LIMIT_STATIC = "limit_static"
LIMIT_BARE = "limit_bare"
LIMIT_BARE_HEAVY = "limit_bare_heavy"
LIMIT_BARE_VERIFIED = "limit_bare_verified"
PROFILE_HEAVY = "profile_heavy"
ACTIVATION = "activation"
LOGIN = "login"
RSS_LIMIT_MIB = 150
MEMORY_ROWS = ("auth", "referral", "profile", "gateway")


def profile_key(scale: int) -> str:
    return f"profile_{scale_label(scale)}"


def scale_label(scale: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if scale >= size and scale % size == 0:
            return f"{scale // size}{suffix}"
    return str(scale)


@dataclass(frozen=True)
class Measurement:
    key: str
    title: str
    connections: int
    result: WrkResult
    # CPU milliseconds per request, by part (nginx, each service, PostgreSQL, wrk).
    cpu_ms: dict[str, float]
    # From PostgreSQL's statistics on the bench databases.
    database_connections_per_second: float
    database_active_ms: float


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
    scales: tuple[int, ...]
    measurements: dict[str, Measurement]
    memory: dict[str, Peak]
    static_bytes: int
    elapsed_seconds: float
    cores: int

    def result(self, key: str) -> WrkResult:
        return self.measurements[key].result


def targets(run: Run) -> list[Target]:
    bare = run.result(LIMIT_BARE)
    small, top = run.result(profile_key(run.scales[0])), run.result(profile_key(run.scales[-1]))
    heavy = run.result(PROFILE_HEAVY)
    activation, login = run.result(ACTIVATION), run.result(LOGIN)
    profile_errors = sum(
        m.result.errors for key, m in run.measurements.items() if key.startswith("profile_")
    )
    top_label, small_label = scale_label(run.scales[-1]), scale_label(run.scales[0])
    found = [
        Target(
            f"profile GET throughput ({top_label} users) ≥ 0.5 x bare-query limit",
            f"{top.rps:,.0f} req/s",
            top.rps / bare.rps,
            0.5,
            at_most=False,
            versus_limit=(
                f"{top.rps / bare.rps:.2f} x {bare.rps:,.0f} req/s (the bare query with the "
                f"token check: {run.result(LIMIT_BARE_VERIFIED).rps / bare.rps:.2f} x)"
            ),
        ),
        Target(
            f"profile GET p99 at {run.measurements[profile_key(run.scales[-1])].connections} "
            f"connections ≤ 50 ms",
            _ms(top.p99_ms),
            top.p99_ms,
            50,
            at_most=True,
            versus_limit=_times(top.p99_ms, bare.p99_ms),
        ),
        Target(
            "profile GET errors (every profile run) = 0",
            f"{profile_errors}",
            profile_errors,
            0,
            at_most=True,
            versus_limit="",
        ),
        Target(
            f"profile p50 at {top_label} users ≤ 1.3 x p50 at {small_label}",
            f"{_ms(top.p50_ms)} vs {_ms(small.p50_ms)}",
            top.p50_ms / small.p50_ms,
            1.3,
            at_most=True,
            versus_limit=_times(top.p50_ms, bare.p50_ms),
        ),
        Target(
            "profile p50 of the 100k-invitee user ≤ 1.5 x a typical user's",
            f"{_ms(heavy.p50_ms)} vs {_ms(top.p50_ms)}",
            heavy.p50_ms / top.p50_ms,
            1.5,
            at_most=True,
            versus_limit=_times(heavy.p50_ms, run.result(LIMIT_BARE_HEAVY).p50_ms)
            + " (bare, same user)",
        ),
        Target(
            "activation p99 ≤ 50 ms (10k-deep chain walks included)",
            _ms(activation.p99_ms),
            activation.p99_ms,
            50,
            at_most=True,
            versus_limit=_times(activation.p99_ms, bare.p99_ms),
        ),
        Target(
            "completed logins per second ≥ 300",
            f"{login.per_second('logins'):,.0f} /s",
            login.per_second("logins"),
            300,
            at_most=False,
            versus_limit=f"{login.rps / bare.rps:.2f} x bare req/s ({login.rps:,.0f} req/s)",
        ),
    ]
    for name in MEMORY_ROWS:
        peak = run.memory.get(name)
        value = peak.hwm_mib if peak else float("nan")
        found.append(
            Target(
                f"{name} peak RSS under load ≤ {RSS_LIMIT_MIB} MB",
                f"{value:.0f} MiB",
                value,
                RSS_LIMIT_MIB,
                at_most=True,
                versus_limit=f"{peak.processes} processes" if peak else "",
            )
        )
    return found


def markdown(run: Run) -> str:
    lines = [
        "# Benchmark: latest run",
        "",
        f"{run.started} · {run.machine}",
        "",
        f"{run.settings}. Reproduce with `make bench` (details in `bench/README.md`); "
        f"this run took {run.elapsed_seconds / 60:.1f} min.",
        "",
        "## Targets",
        "",
        "| target | measured | value | wanted | against the limit | result |",
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
        "configuration, one raw ASGI process per worker running the profile's indexed queries "
        "with psycopg2), **x static** to nginx serving a static JSON file of a typical "
        f"profile's size ({run.static_bytes} bytes).",
        "",
        "| run | conns | req/s | x bare | x static | p50 ms | x bare | p99 ms | x bare "
        "| max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for measurement in run.measurements.values():
        r = measurement.result
        lines.append(
            f"| {measurement.title} | {measurement.connections} | {r.rps:,.0f} "
            f"| {r.rps / bare.rps:.2f} | {r.rps / static.rps:.3f} "
            f"| {r.p50_ms:.1f} | {r.p50_ms / bare.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.p99_ms / bare.p99_ms:.1f} "
            f"| {r.max_ms:.0f} | {_errors(r)} |"
        )
    lines += ["", *_cpu_table(run)]
    login = run.result(LOGIN)
    lines += [
        "",
        f"Sign-in: {login.counters.get('logins', 0):,.0f} logins completed in "
        f"{login.duration_s:.1f} s (three requests each).",
        "",
        "## Peak memory under load",
        "",
        "VmHWM summed over each service's processes (a uvicorn supervisor and its workers; "
        "nginx's master and workers), read throughout the run.",
        "",
        "| service | processes | peak RSS MiB (sum) | largest process MiB | "
        "largest simultaneous RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, peak in run.memory.items():
        lines.append(
            f"| {name} | {peak.processes} | {peak.hwm_mib:.0f} | {peak.largest_process_mib:.0f} "
            f"| {peak.sampled_mib:.0f} |"
        )
    lines += ["", "![latency and throughput](latest.png)", ""]
    return "\n".join(lines)


# Columns of the CPU table: the parts of the system a request can spend time in.
_CPU_PARTS = (
    ("nginx", ("gateway", "nginx")),
    ("auth", ("auth",)),
    ("referral", ("referral",)),
    ("profile", ("profile",)),
    ("bare app", ("bare",)),
    ("PostgreSQL", ("postgres",)),
)


def _cpu_table(run: Run) -> list[str]:
    cores = run.cores
    lines = [
        "## Where the CPU goes",
        "",
        "CPU milliseconds per request in each part: user + system time over the measured run, "
        "divided by the requests completed. PostgreSQL counts the server processes of the "
        "bench databases that were still connected at the end of the run; *new PG "
        "connections/s* and *PG active ms* (time spent executing statements, per request) come "
        "from PostgreSQL's own statistics. *Server total* leaves wrk out; *ceiling* is what "
        f"{cores} cores could serve at that cost if nothing else ran: a run far below its "
        "ceiling waited on locks, queues or other processes, one near it is CPU-bound.",
        "",
        "| run | " + " | ".join(name for name, _ in _CPU_PARTS) + " | server total | wrk "
        "| ceiling req/s | new PG connections/s | PG active ms |",
        "|---|" + "---:|" * (len(_CPU_PARTS) + 5),
    ]
    for measurement in run.measurements.values():
        cpu = measurement.cpu_ms
        parts = [sum(cpu.get(key, 0.0) for key in keys) for _, keys in _CPU_PARTS]
        total = sum(parts)
        cells = " | ".join(f"{value:.2f}" if value else "" for value in parts)
        ceiling = cores * 1000 / total if total else float("nan")
        lines.append(
            f"| {measurement.title} | {cells} | {total:.2f} | {cpu.get('wrk', 0.0):.2f} "
            f"| {ceiling:,.0f} | {measurement.database_connections_per_second:.1f} "
            f"| {measurement.database_active_ms:.2f} |"
        )
    return lines


def chart(run: Run, path: Path) -> None:
    figure, (throughput, latency, scaling) = plt.subplots(
        1, 3, figsize=(17, 5.5), gridspec_kw={"width_ratios": [1.1, 1.4, 0.9]}
    )
    names = [m.title for m in run.measurements.values()]
    results = [m.result for m in run.measurements.values()]
    is_limit = [m.key.startswith("limit_") for m in run.measurements.values()]
    positions = range(len(names))

    bare_rps = run.result(LIMIT_BARE).rps
    bars = throughput.barh(
        positions,
        [r.rps for r in results],
        color=["#9e9e9e" if limit else "#1f77b4" for limit in is_limit],
    )
    throughput.bar_label(
        bars,
        labels=[f"{r.rps:,.0f} ({r.rps / bare_rps:.2f}x bare)" for r in results],
        fontsize=7,
        padding=2,
    )
    throughput.margins(x=0.6)
    throughput.set_yticks(list(positions), names, fontsize=8)
    throughput.invert_yaxis()
    throughput.set_xscale("log")
    throughput.set_xlabel("requests per second (log; grey: limits)")
    throughput.set_title("Throughput")

    width = 0.4
    latency.barh(
        [p - width / 2 for p in positions], [r.p50_ms for r in results], width, label="p50"
    )
    latency.barh(
        [p + width / 2 for p in positions], [r.p99_ms for r in results], width, label="p99"
    )
    latency.axvline(50, color="#d62728", linestyle="--", linewidth=1, label="50 ms target")
    latency.set_yticks(list(positions), [""] * len(names))
    latency.invert_yaxis()
    latency.set_xscale("log")
    latency.set_xlabel("milliseconds (log)")
    latency.set_title("Latency")
    latency.legend(loc="lower right", fontsize=8)

    scales = list(run.scales)
    profile = [run.result(profile_key(scale)) for scale in scales]
    scaling.plot(scales, [r.p50_ms for r in profile], marker="o", label="profile p50")
    scaling.plot(scales, [r.p99_ms for r in profile], marker="o", label="profile p99")
    scaling.axhline(
        run.result(LIMIT_BARE).p50_ms, color="#9e9e9e", linestyle=":", label="bare-query p50"
    )
    scaling.set_xscale("log")
    scaling.set_xticks(scales, [scale_label(scale) for scale in scales])
    scaling.set_ylim(bottom=0)
    scaling.set_xlabel("seeded users")
    scaling.set_ylabel("milliseconds")
    scaling.set_title("Profile latency against scale")
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
            "scales": run.scales,
            "static_bytes": run.static_bytes,
            "elapsed_seconds": run.elapsed_seconds,
            "cores": run.cores,
            "measurements": {key: asdict(m) for key, m in run.measurements.items()},
            "memory": {name: asdict(peak) for name, peak in run.memory.items()},
            "targets": [{**asdict(t), "holds": t.holds} for t in targets(run)],
        },
        indent=2,
    )


def _errors(result: WrkResult) -> str:
    if not result.errors:
        return "0"
    unexpected = ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
    return f"{result.errors} ({unexpected}; socket {result.socket_errors})"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _times(value: float, limit: float) -> str:
    return f"{value / limit:.1f} x limit"


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"


def write_all(run: Run, results_dir: Path, raw_dir: Path) -> str:
    text = markdown(run)
    (results_dir / "latest.md").write_text(text)
    chart(run, results_dir / "latest.png")
    (raw_dir / "results.json").write_text(raw_json(run))
    return text
