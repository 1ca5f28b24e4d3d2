"""The CSV export of 100,000 invitees from a real uvicorn process, within bounded memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from common.db.urls import sync_url
from testkit.plugin import free_port
from testkit.servers import running_process, uvicorn_command

CSV = "/referral_system/api_invited_users.csv"
INVITEES = 100_000
# The peak RSS of the process may grow by this much while it streams them all. Measured: about
# 2.5 MiB in batches of 5,000; reading all 100,000 rows in one statement instead grew it 47 MiB.
MAX_GROWTH_MIB = 30

pytestmark = pytest.mark.usefixtures("require_postgres")


def seed_invitees(database_url: str, count: int) -> None:
    """User 1 invited users 2..count+1, three at each second (ties are ordered by id)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO member "
                    "(user_id, phone, invite_code, invited_count, root_id, created_at) "
                    "SELECT g, '9' || lpad(g::text, 9, '0'), lpad(g::text, 6, '0'), "
                    "CASE WHEN g = 1 THEN :count ELSE 0 END, 1, now() "
                    "FROM generate_series(1, :count + 1) AS g"
                ),
                {"count": count},
            )
            connection.execute(
                text(
                    "INSERT INTO activation (invitee_id, inviter_id, invite_code, activated_at) "
                    "SELECT g, 1, '000001', "
                    "timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => g / 3) "
                    "FROM generate_series(2, :count + 1) AS g"
                ),
                {"count": count},
            )
            connection.execute(text("ANALYZE member, activation"))
    finally:
        engine.dispose()


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for process {pid}")


@pytest.fixture
def server(service_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A referral uvicorn process (it migrates the database): its URL and pid."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_process(
        uvicorn_command("referral_service.main:create_app", port=port),
        health_url=f"{url}/healthz",
        env=service_env,
        log_path=tmp_path / "referral.log",
    ) as process:
        yield url, process.pid


def test_100k_invitees_stream_within_bounded_memory(
    server: tuple[str, int], database_url: str, bearer: Callable[[int], dict[str, str]]
) -> None:
    url, pid = server
    seed_invitees(database_url, INVITEES)
    with httpx.Client(base_url=url, timeout=60) as client:
        # Warm up the route, the token check and the pool on a member without invitees.
        warm_up = client.get(CSV, headers=bearer(2))
        assert warm_up.text == "id,phone,activated_at\r\n"
        before = peak_rss_mib(pid)

        started = time.perf_counter()
        expected_id, lines = INVITEES + 1, 0
        with client.stream("GET", CSV, headers=bearer(1)) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            assert "content-length" not in response.headers  # streamed, chunk by chunk
            lines_of = response.iter_lines()
            assert next(lines_of) == "id,phone,activated_at"
            for line in lines_of:
                invitee_id, phone, activated_at = line.split(",")
                assert int(invitee_id) == expected_id, line
                assert phone == f"9{expected_id:09d}"
                assert activated_at.startswith("2026-01-") and activated_at.endswith("Z")
                expected_id -= 1
                lines += 1
        elapsed = time.perf_counter() - started
        after = peak_rss_mib(pid)

    growth = after - before
    print(
        f"\nCSV of {lines} invitees in {elapsed:.2f} s; peak RSS {before:.1f} -> {after:.1f} MiB "
        f"(+{growth:.1f} MiB)"
    )
    assert (lines, expected_id) == (INVITEES, 1)
    assert growth < MAX_GROWTH_MIB, f"peak RSS grew {growth:.1f} MiB"
