"""CPU time each process spends per request: where a run's capacity goes.

Less sensitive than latency to what else the machine is running, so it shows which hop costs
what even on a busy or noisy host. Every process is read from /proc before and after the
measured run: each uvicorn supervisor and worker, nginx's master and workers, the stack's own
runner, the PostgreSQL backends serving the bench databases (those connected at both ends of
the run), PostgreSQL's own server processes with the children they reaped meanwhile (parallel
and autovacuum workers, closed connections) and the Redis server (both servers are shared with
any other client), and wrk (see bench.wrk.run_wrk).
PostgreSQL is also read through its statistics: connections opened, transactions and time spent
executing statements in the bench databases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.db import connect
from bench.processes import (
    Process,
    cpu_seconds,
    labelled_tree,
    machine_cpu,
    parents,
    postgres_auxiliary,
    postgres_backends,
    processes_named,
)

LOAD_GENERATOR = "wrk"
HARNESS = "harness"
# Parts read as groups of processes that come and go, named once for all their processes.
POSTGRES, POSTGRES_SERVER, REDIS = "postgres", "postgres-server", "redis"
GROUP_LABELS = {
    POSTGRES: "PostgreSQL backends (bench DBs)",
    POSTGRES_SERVER: "PostgreSQL server processes (shared)",
    REDIS: "Redis server (shared)",
}


@dataclass(frozen=True)
class DatabaseCounters:
    sessions: int = 0
    transactions: int = 0
    active_ms: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    processes: dict[int, tuple[Process, float]]
    database: DatabaseCounters
    machine: tuple[float, float, float, float]  # busy, interrupts, stolen, total: all cores


@dataclass(frozen=True)
class Usage:
    # CPU seconds by part (nginx, auth, ..., wrk) and by process label (auth w1, ...).
    by_part: dict[str, float]
    by_process: dict[str, float]
    database: DatabaseCounters
    # The whole machine meanwhile: CPU seconds busy (anyone's, interrupts included), in
    # interrupts, stolen, and in all.
    machine_busy: float
    machine_interrupts: float
    machine_stolen: float
    machine_total: float


def watched_processes(
    roots: Mapping[str, int], singles: Mapping[str, tuple[str, int]], databases: list[str]
) -> list[Process]:
    """The processes of every part, as they are now; `singles`: label -> (part, pid)."""
    table = parents()
    found = [proc for part, root in roots.items() for proc in labelled_tree(part, root, table)]
    found += [Process(part, label, pid) for label, (part, pid) in singles.items()]
    found += [
        Process(POSTGRES, GROUP_LABELS[POSTGRES], pid) for pid in postgres_backends(databases)
    ]
    # The servers' own processes also count their exited children: PostgreSQL's parallel and
    # autovacuum workers, backends that disconnected; Redis's snapshot forks.
    for part, pids in (
        (POSTGRES_SERVER, postgres_auxiliary()),
        (REDIS, processes_named("redis-server")),
    ):
        found += [Process(part, GROUP_LABELS[part], pid, reaped=True) for pid in pids]
    return found


class CpuMeter:
    def __init__(
        self,
        roots: Mapping[str, int],
        *,
        singles: Mapping[str, tuple[str, int]],
        stats_url: str,
        databases: list[str],
    ) -> None:
        self._roots = dict(roots)
        self._singles = dict(singles)
        self._stats_url = stats_url
        self._databases = databases

    def snapshot(self, extra_roots: Mapping[str, int]) -> Snapshot:
        processes = watched_processes(
            {**self._roots, **extra_roots}, self._singles, self._databases
        )
        return Snapshot(
            processes={
                proc.pid: (proc, cpu_seconds(proc.pid, reaped=proc.reaped)) for proc in processes
            },
            database=self._database_counters(),
            machine=machine_cpu(),
        )

    @staticmethod
    def used(before: Snapshot, after: Snapshot, *, load_generator: float) -> Usage:
        """What was spent between two snapshots, with the load generator's `load_generator` s.

        A process that started in between counts from zero; one that exited in between is lost.
        """
        by_part: dict[str, float] = {}
        by_process: dict[str, float] = {}
        for pid, (proc, seconds) in after.processes.items():
            spent = seconds - before.processes.get(pid, (proc, 0.0))[1]
            by_part[proc.part] = by_part.get(proc.part, 0.0) + spent
            by_process[proc.label] = by_process.get(proc.label, 0.0) + spent
        by_part[LOAD_GENERATOR] = by_process[LOAD_GENERATOR] = load_generator
        return Usage(
            by_part=by_part,
            by_process=by_process,
            database=DatabaseCounters(
                sessions=after.database.sessions - before.database.sessions,
                transactions=after.database.transactions - before.database.transactions,
                active_ms=after.database.active_ms - before.database.active_ms,
            ),
            machine_busy=after.machine[0] - before.machine[0],
            machine_interrupts=after.machine[1] - before.machine[1],
            machine_stolen=after.machine[2] - before.machine[2],
            machine_total=after.machine[3] - before.machine[3],
        )

    def _database_counters(self) -> DatabaseCounters:
        with connect(self._stats_url, autocommit=True) as connection, connection.cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(sessions), 0), coalesce(sum(xact_commit + xact_rollback), 0),"
                " coalesce(sum(active_time), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
                (self._databases,),
            )
            sessions, transactions, active_ms = cur.fetchone()
        return DatabaseCounters(int(sessions), int(transactions), float(active_ms))
