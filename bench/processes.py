"""Free ports, the processes the harness starts, and the process trees whose memory it reads."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields resume after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def parents() -> dict[int, int]:
    """The parent of every process alive, from one pass over /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                found[int(entry.name)] = parent
    return found


def children(pid: int, table: dict[int, int] | None = None) -> list[int]:
    table = parents() if table is None else table
    return [child for child, parent in table.items() if parent == pid]


def tree(pid: int, table: dict[int, int] | None = None) -> list[int]:
    """`pid` and all its descendants still alive (`table`: a `parents()` already read)."""
    table = parents() if table is None else table
    below: dict[int, list[int]] = {}
    for child, parent in table.items():
        below.setdefault(parent, []).append(child)
    pending, seen = [pid], []
    while pending:
        current = pending.pop()
        seen.append(current)
        pending.extend(below.get(current, []))
    return seen


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in KiB; zeros once it has exited."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        name, _, rest = line.partition(":")
        if name in values:
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, thread: int | None = None, reaped: bool = False) -> float:
    """User + system CPU time `pid` (or only its `thread`) has used so far; 0 once it exited.

    `reaped` adds the CPU time of its children that exited and were waited for (a server's
    short-lived workers).
    """
    path = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime and cstime are fields 14 to 17 of stat(5); fields[0] here is field 3.
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLOCK_TICKS


def postgres_backends(databases: Iterable[str]) -> list[int]:
    """Server processes serving connections to these databases (named in their process title)."""
    names = tuple(f" {database} " for database in databases)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            title = command_line(int(entry.name))
            if title.startswith("postgres:") and any(name in title for name in names):
                found.append(int(entry.name))
    return found


def processes_named(name: str) -> list[int]:
    """Processes whose command (comm) is `name`, e.g. the Redis server."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm == name:
                found.append(int(entry.name))
    return found


# A client backend's title: "postgres: 15/main: USER DATABASE HOST(PORT) STATE" or "[local]".
_CLIENT_BACKEND = re.compile(r"^postgres: [^:]*: \S+ \S+ (\S+\(\d+\)|\[local\])")


def postgres_auxiliary() -> list[int]:
    """The PostgreSQL server's own processes (postmaster, WAL writer, checkpointer, autovacuum,
    parallel workers, ...): shared by every database of the server, so they count other
    clients' work too."""
    return [
        pid for pid in processes_named("postgres") if not _CLIENT_BACKEND.match(command_line(pid))
    ]


@dataclass(frozen=True)
class Process:
    """One process under watch: the part of the system it belongs to and its own name."""

    part: str
    label: str
    pid: int
    # Also count the CPU of its exited children (PostgreSQL's postmaster, the Redis server).
    reaped: bool = False


def _role(command: str) -> str:
    if command.startswith("nginx: master"):
        return "master"
    if command.startswith("nginx: worker"):
        return "worker"
    if "resource_tracker" in command:
        return "resource tracker"
    if "multiprocessing.spawn" in command or "spawn_main" in command:
        return "worker"
    return "main"


def labelled_tree(part: str, root: int, table: dict[int, int] | None = None) -> list[Process]:
    """`root` and its descendants, named by role: a uvicorn supervisor and its workers w1, w2,
    ... (by pid), nginx's master and workers; a lone process takes the part's name."""
    pids = sorted(tree(root, table))
    if len(pids) == 1:
        return [Process(part, part, root)]
    found, counts = [], dict.fromkeys(("worker",), 0)
    for pid in pids:
        role = _role(command_line(pid))
        if pid == root:
            label = f"{part} {'master' if role == 'master' else 'supervisor'}"
        elif role == "worker":
            counts["worker"] += 1
            label = f"{part} w{counts['worker']}"
        elif role == "main":
            label = f"{part} pid {pid}"
        else:
            label = f"{part} {role}"
        found.append(Process(part, label, pid))
    return found


def machine_cpu() -> tuple[float, float, float, float]:
    """(busy, interrupts, stolen, total) CPU seconds of the whole machine so far, all cores
    summed.

    Busy is everything but idle, I/O wait and stolen time (which the hypervisor gave to other
    machines); interrupts (irq and softirq: much of loopback networking) are part of busy, and
    no process's.
    """
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    # cpu user nice system idle iowait irq softirq steal (guest time is inside user's).
    fields = [int(value) for value in first_line.split()[1:9]]
    idle, iowait, irq, softirq, steal = fields[3], fields[4], fields[5], fields[6], fields[7]
    total = sum(fields)
    busy = total - idle - iowait - steal
    return (
        busy / _CLOCK_TICKS,
        (irq + softirq) / _CLOCK_TICKS,
        steal / _CLOCK_TICKS,
        total / _CLOCK_TICKS,
    )
