"""CPU time each part of the system spends per request: where a run's capacity goes.

Less sensitive than latency to what else the machine is running, so it shows which hop costs
what even on a busy or noisy host. PostgreSQL is read two ways: the CPU of the server
processes serving the bench databases (a connection that closes during the run takes its CPU
time with it), and the server's own statistics: connections opened and time spent executing
statements in those databases.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from bench.db import connect
from bench.processes import cpu_seconds, postgres_backends, tree

PidSource = Callable[[], list[int]]
LOAD_GENERATOR = "wrk"


@dataclass(frozen=True)
class Snapshot:
    per_pid: dict[str, dict[int, float]]
    children_seconds: float
    database_sessions: int
    database_active_ms: float


@dataclass(frozen=True)
class Usage:
    cpu_seconds: dict[str, float]
    database_sessions: int
    database_active_ms: float


class CpuMeter:
    def __init__(self, roots: Mapping[str, int], *, stats_url: str, databases: list[str]) -> None:
        self._sources: dict[str, PidSource] = {
            name: partial(tree, root) for name, root in roots.items()
        }
        self._sources["postgres"] = lambda: postgres_backends(databases)
        self._stats_url = stats_url
        self._databases = databases

    def snapshot(self, extra_roots: Mapping[str, int]) -> Snapshot:
        sources: dict[str, PidSource] = {
            **self._sources,
            **{name: partial(tree, root) for name, root in extra_roots.items()},
        }
        sessions, active_ms = self._database_counters()
        return Snapshot(
            per_pid={
                name: {pid: cpu_seconds(pid) for pid in source()}
                for name, source in sources.items()
            },
            children_seconds=_children_seconds(),
            database_sessions=sessions,
            database_active_ms=active_ms,
        )

    @staticmethod
    def used(before: Snapshot, after: Snapshot) -> Usage:
        """What was spent between two snapshots (the load generator included).

        A process that started in between counts from zero; one that exited in between is lost.
        """
        cpu = {
            name: sum(
                seconds - before.per_pid.get(name, {}).get(pid, 0.0)
                for pid, seconds in pids.items()
            )
            for name, pids in after.per_pid.items()
        }
        # wrk is this process's own child, waited for: its time shows in RUSAGE_CHILDREN.
        cpu[LOAD_GENERATOR] = after.children_seconds - before.children_seconds
        return Usage(
            cpu_seconds=cpu,
            database_sessions=after.database_sessions - before.database_sessions,
            database_active_ms=after.database_active_ms - before.database_active_ms,
        )

    def _database_counters(self) -> tuple[int, float]:
        with connect(self._stats_url, autocommit=True) as connection, connection.cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(sessions), 0), coalesce(sum(active_time), 0) "
                "FROM pg_stat_database WHERE datname = ANY(%s)",
                (self._databases,),
            )
            sessions, active_ms = cur.fetchone()
        return int(sessions), float(active_ms)


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
