"""Both overlays render, every object validates against the Kubernetes schemas in strict mode,
and the sources pass yamllint: what `make lint-deploy` runs, here for `make test`."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.conftest import K8S, KUBERNETES_VERSION, OVERLAYS, REPO_ROOT, render


def test_every_object_validates_against_the_schemas_in_strict_mode(
    objects: list[dict[str, Any]],
) -> None:
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as invalid:
            path = "/".join(str(part) for part in invalid.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {invalid.message}")
    assert not problems, "\n".join(problems)


def test_the_validator_ships_the_chosen_kubernetes_version() -> None:
    """A version it has no schemas for would fail every object with SchemaNotFoundError."""
    validated = kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
        KUBERNETES_VERSION,
        strict=True,
    )
    assert KUBERNETES_VERSION.startswith(validated)


def test_the_strict_validator_refuses_an_unknown_field() -> None:
    """Strict mode is what catches a misspelt field (a silently ignored one in a cluster)."""
    deployment = next(o for o in render("prod") if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_yamllint_passes_on_every_manifest() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamllint",
            "--strict",
            "--format",
            "parsable",
            "-c",
            str(K8S / ".yamllint.yaml"),
            str(K8S),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_lint_deploy_renders_and_validates_every_overlay() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    target = re.search(r"^lint-deploy:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL)
    assert target, "the Makefile has a lint-deploy target"
    recipe = target.group(0)
    loop = re.search(r"for overlay in ([a-z ]+);", recipe)
    assert loop and loop.group(1).split() == list(OVERLAYS), "lint-deploy renders every overlay"
    version = re.search(r"^K8S_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version and version.group(1) == KUBERNETES_VERSION, "one Kubernetes version for both"
    assert "kubernetes-validate --strict" in recipe and "yamllint --strict" in recipe
    found = {path.name for path in (K8S / "overlays").iterdir() if path.is_dir()}
    assert found == set(OVERLAYS), f"overlays on disk {sorted(found)} != tested {OVERLAYS}"


def test_the_dev_postgres_init_script_is_the_compose_one() -> None:
    """kustomize reads no file outside deploy/k8s: the dev overlay keeps a copy of
    deploy/postgres/init-databases.sh, and it must stay the same script."""
    copy = K8S / "overlays" / "dev" / "init-databases.sh"
    original = REPO_ROOT / "deploy" / "postgres" / "init-databases.sh"
    assert copy.read_text() == original.read_text(), (
        f"{copy.relative_to(REPO_ROOT)} differs from {original.relative_to(REPO_ROOT)}: "
        "copy the original over it"
    )


def test_the_gateway_main_config_keeps_the_images_includes() -> None:
    """deploy/k8s/base/gateway-nginx.conf replaces gateway/nginx.conf in the pod: the same
    includes and access log, so the image's rendered template is what serves."""
    image = (REPO_ROOT / "gateway" / "nginx.conf").read_text()
    pod = (K8S / "base" / "gateway-nginx.conf").read_text()
    for directive in (
        "include /etc/nginx/mime.types;",
        "include /etc/nginx/conf.d/*.conf;",
        "access_log /var/log/nginx/access.log gateway_json;",
        "error_log /var/log/nginx/error.log notice;",
    ):
        assert directive in image, f"gateway/nginx.conf no longer has {directive!r}"
        assert directive in pod, f"gateway-nginx.conf lacks {directive!r}"
