"""The Kubernetes manifests (deploy/k8s/), rendered offline by `kubectl kustomize`, as objects.

Without kubectl the tests that need a rendering skip; with REQUIRE_SERVICES=1 (CI) a skip is a
failure (testkit.plugin), so a CI machine without kubectl fails here.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The Kubernetes release whose schemas kubernetes-validate checks the objects against (one it
# ships; the Makefile's lint-deploy uses the same).
KUBERNETES_VERSION = "1.32.0"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: deploy/k8s is rendered with `kubectl kustomize`")
    return found


@functools.cache
def _render(overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}"
    return result.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """Every object of the overlay, as `kubectl kustomize` prints it."""
    return [obj for obj in yaml.safe_load_all(_render(overlay)) if obj]


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> list[dict[str, Any]]:
    return render(overlay)


def named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`Kind/name`, pod spec) of every object that runs pods."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def config_map(objects: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The generated ConfigMap whose name is `prefix` and kustomize's hash."""
    [found] = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].rsplit("-", 1)[0] == prefix
    ]
    return found
