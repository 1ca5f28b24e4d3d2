"""Peak resident memory of each service (a uvicorn master and its workers, or nginx's tree)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from bench.processes import memory_kib, tree


@dataclass(frozen=True)
class Peak:
    hwm_mib: float  # sum over the tree's processes of each one's peak (VmHWM)
    sampled_mib: float  # the largest sum of VmRSS seen at one sampling instant
    largest_process_mib: float
    processes: int


class MemoryWatch:
    """Samples the process trees under `roots` until stopped; `label` tags what load is running."""

    def __init__(self, roots: Mapping[str, int], *, interval_seconds: float = 0.25) -> None:
        self._roots = dict(roots)
        self._interval = interval_seconds
        self._hwm_kib: dict[str, dict[int, int]] = {name: {} for name in roots}
        self._sampled_kib: dict[str, int] = dict.fromkeys(roots, 0)
        self.by_label: dict[str, dict[str, float]] = {}
        self.label = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        label = self.by_label.setdefault(self.label, {})
        for name, root in self._roots.items():
            rss_total = 0
            for pid in tree(root):
                rss, hwm = memory_kib(pid)
                rss_total += rss
                if hwm:
                    self._hwm_kib[name][pid] = hwm
            self._sampled_kib[name] = max(self._sampled_kib[name], rss_total)
            label[name] = max(label.get(name, 0.0), rss_total / 1024)

    def peaks(self) -> dict[str, Peak]:
        return {
            name: Peak(
                hwm_mib=sum(hwms.values()) / 1024,
                sampled_mib=self._sampled_kib[name] / 1024,
                largest_process_mib=max(hwms.values(), default=0) / 1024,
                processes=len(hwms),
            )
            for name, hwms in self._hwm_kib.items()
        }
