"""Resident memory of every process under test, each on its own (a uvicorn supervisor and each
of its workers, nginx's master and each worker, the stack's runner), sampled all along."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from bench.processes import Process, labelled_tree, memory_kib, parents


@dataclass(frozen=True)
class ProcessPeak:
    part: str
    label: str
    pid: int
    hwm_mib: float  # VmHWM: the kernel's own peak of the process's resident set, never missed
    rss_max_mib: float  # the largest VmRSS sampled
    rss_max_during: str  # the run (or "idle", "seeding") going on when that sample was taken


class MemoryWatch:
    """Samples the process trees under `roots` (and the `singles`, alone) until stopped.

    `label` tags what load is running; `add` watches more trees from then on (the limit's).
    """

    def __init__(
        self,
        roots: Mapping[str, int],
        *,
        singles: Mapping[str, int] | None = None,
        interval_seconds: float = 0.25,
    ) -> None:
        self._roots = dict(roots)
        self._singles = dict(singles or {})
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._seen: dict[int, Process] = {}
        self._hwm_kib: dict[int, int] = {}
        self._rss_max_kib: dict[int, tuple[int, str]] = {}
        self.label = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def add(self, roots: Mapping[str, int]) -> None:
        with self._lock:
            self._roots.update(roots)
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _processes(self) -> list[Process]:
        with self._lock:
            roots, singles = dict(self._roots), dict(self._singles)
        table = parents()
        found = [proc for part, root in roots.items() for proc in labelled_tree(part, root, table)]
        return found + [Process(part, f"{part} runner", pid) for part, pid in singles.items()]

    def _sample(self) -> None:
        label = self.label
        for proc in self._processes():
            rss, hwm = memory_kib(proc.pid)
            if not hwm:
                continue  # exited meanwhile
            with self._lock:
                self._seen.setdefault(proc.pid, proc)
                self._hwm_kib[proc.pid] = hwm
                if rss > self._rss_max_kib.get(proc.pid, (0, ""))[0]:
                    self._rss_max_kib[proc.pid] = (rss, label)

    def peaks(self) -> list[ProcessPeak]:
        with self._lock:
            return [
                ProcessPeak(
                    part=proc.part,
                    label=proc.label,
                    pid=pid,
                    hwm_mib=self._hwm_kib[pid] / 1024,
                    rss_max_mib=self._rss_max_kib[pid][0] / 1024,
                    rss_max_during=self._rss_max_kib[pid][1],
                )
                for pid, proc in self._seen.items()
            ]
