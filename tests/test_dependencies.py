"""What each runtime environment installs, read from uv.lock: test tooling stays in the dev group.

A service image syncs `--no-dev --package <service>-service` (services/Dockerfile) and `make run`
syncs `--no-dev --package <single process>` (Makefile); neither may pull in a dev tool, and only
the single process gets the in-process Redis store (`common[memory]`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = {p["name"]: p for p in tomllib.loads((REPO_ROOT / "uv.lock").read_text())["package"]}
DEV_ONLY = {
    "testkit",
    "pytest",
    "playwright",
    "schemathesis",
    "mypy",
    "ruff",
    "matplotlib",
    "orjson",
}
IN_PROCESS_STORE = "fakeredis"


def installed(package: str) -> set[str]:
    """What a `--no-dev` sync of `package` installs (platform markers ignored: a superset)."""
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(package, None)]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        entry = LOCK[name]
        if extra is None:
            requirements = entry.get("dependencies", [])
        else:
            requirements = entry.get("optional-dependencies", {}).get(extra, [])
        for requirement in requirements:
            todo.append((requirement["name"], None))
            todo += [(requirement["name"], wanted) for wanted in requirement.get("extra", [])]
    return {name for name, _ in seen}


def make_run_package() -> str:
    match = re.search(
        r"sync --frozen --no-dev --inexact[^\n]* --package (\S+)",
        (REPO_ROOT / "Makefile").read_text(),
    )
    assert match, "the Makefile syncs the runtime dependencies for `make run`"
    return match.group(1)


def test_the_dev_only_packages_are_locked() -> None:
    assert DEV_ONLY | {IN_PROCESS_STORE} <= set(LOCK)


@pytest.mark.parametrize("service", ["auth", "referral", "profile"])
def test_a_service_image_gets_no_test_tooling_and_no_in_process_store(service: str) -> None:
    dockerfile = (REPO_ROOT / "services/Dockerfile").read_text()
    assert 'uv sync --frozen --no-dev --package "${SERVICE}-service"' in dockerfile
    packages = installed(f"{service}-service")
    assert "common" in packages
    assert not packages & (DEV_ONLY | {IN_PROCESS_STORE})


def test_make_run_gets_the_in_process_store_and_no_dev_tool() -> None:
    packages = installed(make_run_package())
    assert {"auth-service", "referral-service", "profile-service", IN_PROCESS_STORE} <= packages
    assert not packages & DEV_ONLY
