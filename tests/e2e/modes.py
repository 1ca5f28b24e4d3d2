"""The two run modes, started for a test run: `make run`'s single process and `make stack`
(shared by tests.e2e and tests.webhooks)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from subprocess import Popen

import pytest
from sqlalchemy import make_url

from common.redis import redis_from_url
from testkit.plugin import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    POSTGRES_URL,
    drop_test_database,
    free_port,
)
from testkit.servers import running_process

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/11")


def database_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def running_single(
    settings: dict[str, str], *, port: int, var_dir: Path, log_path: Path
) -> AbstractContextManager[Popen[bytes]]:
    """`make run`'s process on `port`, with `settings` in its environment."""
    return running_process(
        [sys.executable, "-m", "runmodes"],
        env={**settings, "PORT": str(port), "VAR_DIR": str(var_dir)},
        cwd=REPO_ROOT,
        health_url=f"http://127.0.0.1:{port}/number_input/",
        log_path=log_path,
    )


@contextmanager
def running_stack(
    settings: dict[str, str], *, prefix: str, var_dir: Path, log_path: Path
) -> Iterator[str]:
    """`make stack` on free ports, with `settings` in its environment and databases of its own
    (`prefix`_auth_…, `prefix`_referral_…, dropped after); yields the gateway's URL."""
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("the stack needs PostgreSQL and Redis")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("the stack needs nginx")
    suffix = uuid.uuid4().hex[:8]
    databases = {name: f"{prefix}_{name}_{suffix}" for name in ("auth", "referral")}
    redis_from_url(E2E_REDIS_URL).flushdb()
    gateway = free_port()
    env = {
        **settings,
        "GATEWAY_PORT": str(gateway),
        "AUTH_PORT": str(free_port()),
        "REFERRAL_PORT": str(free_port()),
        "PROFILE_PORT": str(free_port()),
        "VAR_DIR": str(var_dir),
        "REDIS_URL": E2E_REDIS_URL,
        "AUTH_DATABASE_URL": database_url(databases["auth"]),
        "REFERRAL_DATABASE_URL": database_url(databases["referral"]),
    }
    try:
        with running_process(
            [sys.executable, "-m", "runmodes.stack"],
            env=env,
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{gateway}/number_input/",
            log_path=log_path,
            timeout=120,
        ):
            yield f"http://127.0.0.1:{gateway}"
    finally:
        for name in databases.values():
            drop_test_database(database_url(name))
