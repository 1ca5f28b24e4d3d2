"""The rules every rendered object keeps (issue: Kubernetes manifests): probes, measured
resources, non-root and read-only pods, disruption budgets, autoscalers, network policies,
pinned images, no secret values, one migration per release, the workers, the gateway's template.
Each failure names the object and the rule."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway_config.render import TEMPLATE, TEMPLATE_VARIABLES
from tests.deploy.conftest import (
    K8S,
    REPO_ROOT,
    config_map,
    containers,
    named,
    render,
    workloads,
)

SERVICES = {"auth": 8001, "referral": 8002, "profile": 8003}
DATABASE_SERVICES = ("auth", "referral")
WORKER_PORT = 8090
# Settings whose values are secret: never a literal in a manifest, always from a Secret.
SECRET_SETTINGS = {
    "AUTH_DATABASE_URL",
    "REFERRAL_DATABASE_URL",
    "REDIS_URL",
    "OTP_HMAC_SECRET",
    "SMS_WEBHOOK_SECRET",
    "WEBHOOK_SECRET",
    "VISITOR_HASH_KEY",
    "AUDIT_HASH_KEY",
    "JWT_PRIVATE_KEY",
    "POSTGRES_PASSWORD",
    "AUTH_DB_PASSWORD",
    "REFERRAL_DB_PASSWORD",
}
DEV_SECRET_PREFIX = "dev-insecure-"


def env_names(path: Path) -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", path.read_text(), re.MULTILINE))


def quantity_mib(value: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", value)
    assert match, f"memory quantity {value!r} is not in Ki/Mi/Gi"
    return float(match.group(1)) * units[match.group(2)]


def cpu_millicores(value: str | int) -> float:
    text = str(value)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def measured_peak_rss_mib() -> dict[str, int]:
    """Each service's largest peak RSS (MiB) over its uvicorn workers in the committed
    `make bench` report (bench/results/latest.md, "Memory of every process")."""
    report = (REPO_ROOT / "bench" / "results" / "latest.md").read_text()
    peaks: dict[str, int] = {}
    for name, peak in re.findall(
        r"^\| (auth|referral|profile) w\d+ \| \d+ \| (\d+) \|", report, re.M
    ):
        peaks[name] = max(peaks.get(name, 0), int(peak))
    assert set(peaks) == set(SERVICES), f"no worker RSS for some service in latest.md: {peaks}"
    return peaks


def gateway_upstream_timeout_seconds() -> int:
    """The longest the gateway waits on a service for an answer (the template's timeouts)."""
    timeouts = re.findall(r"proxy_(?:read|send)_timeout (\d+)s;", TEMPLATE.read_text())
    assert timeouts, "the template sets proxy_read_timeout and proxy_send_timeout"
    return max(int(seconds) for seconds in timeouts)


def service_container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = named(objects, "Deployment")[name]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    """env name -> (Secret, key, optional) for every variable taken from a Secret."""
    refs = {}
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[variable["name"]] = (ref["name"], ref["key"], bool(ref.get("optional")))
    return refs


# --- pods: security, resources, images -----------------------------------------------------


def test_every_pod_runs_as_non_root_read_only_without_capabilities(
    objects: list[dict[str, Any]],
) -> None:
    problems = []
    for name, pod in workloads(objects):
        security = pod.get("securityContext", {})
        if security.get("runAsNonRoot") is not True or not security.get("runAsUser"):
            problems.append(f"{name}: runAsNonRoot and a non-zero runAsUser")
        if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken false (no API access needed)")
        for container in containers(pod):
            context = container.get("securityContext", {})
            where = f"{name} container {container['name']}"
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation false")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities drop ALL")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
    assert not problems, "\n".join(problems)


def test_every_container_has_cpu_and_memory_requests_and_limits(
    objects: list[dict[str, Any]],
) -> None:
    problems = []
    for name, pod in workloads(objects):
        for container in containers(pod):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(kind, {}):
                        problems.append(f"{name}/{container['name']}: no {resource} {kind}")
            if not problems:
                requests, limits = resources["requests"], resources["limits"]
                if quantity_mib(limits["memory"]) < quantity_mib(requests["memory"]):
                    problems.append(f"{name}/{container['name']}: memory limit < request")
                if cpu_millicores(limits["cpu"]) < cpu_millicores(requests["cpu"]):
                    problems.append(f"{name}/{container['name']}: cpu limit < request")
    assert not problems, "\n".join(problems)


def test_service_memory_covers_the_measured_peak_rss(objects: list[dict[str, Any]]) -> None:
    """A service pod is one uvicorn process: its request holds the process's measured peak
    with room to spare, and its limit is well above it (an OOM kill means a leak, not load)."""
    peaks = measured_peak_rss_mib()
    for name in SERVICES:
        resources = service_container(objects, name)["resources"]
        request = quantity_mib(resources["requests"]["memory"])
        limit = quantity_mib(resources["limits"]["memory"])
        assert request >= peaks[name] * 1.1, (
            f"{name}: memory request {request:g} MiB < 1.1 x measured peak {peaks[name]} MiB"
        )
        assert limit >= peaks[name] * 1.5, (
            f"{name}: memory limit {limit:g} MiB < 1.5 x measured peak {peaks[name]} MiB"
        )


def test_images_are_pinned_never_latest(objects: list[dict[str, Any]]) -> None:
    problems = []
    for name, pod in workloads(objects):
        for container in containers(pod):
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and (not tag or tag == "latest"):
                problems.append(f"{name}/{container['name']}: image {image!r} has no fixed tag")
            if container.get("imagePullPolicy") == "Always":
                problems.append(f"{name}/{container['name']}: imagePullPolicy Always")
    assert not problems, "\n".join(problems)


# --- the services: probes, shutdown, Services ----------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_probes_healthz_and_readyz(objects: list[dict[str, Any]], name: str) -> None:
    container = service_container(objects, name)
    port = SERVICES[name]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness"
    # Start-up (migrations included) is the startup probe's, not a liveness failure.
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz", f"{name}: startup"
    [declared] = container["ports"]
    assert declared["containerPort"] == port and f"--port={port}" in container["command"]
    service = named(objects, "Service")[name]
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_drains_for_longer_than_its_longest_request(
    objects: list[dict[str, Any]], name: str
) -> None:
    """SIGTERM after the preStop pause; uvicorn then finishes its requests within its graceful
    timeout, longer than any request may take (the gateway gives up on a service at its proxy
    timeout), and the whole fits in terminationGracePeriodSeconds."""
    pod = named(objects, "Deployment")[name]["spec"]["template"]["spec"]
    container = service_container(objects, name)
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    [graceful] = [
        int(arg.split("=", 1)[1])
        for arg in container["command"]
        if arg.startswith("--timeout-graceful-shutdown=")
    ]
    longest_request = gateway_upstream_timeout_seconds()
    assert graceful > longest_request, f"{name}: drain {graceful} s <= {longest_request} s"
    assert pod["terminationGracePeriodSeconds"] > pause + graceful, (
        f"{name}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= "
        f"preStop {pause} s + uvicorn drain {graceful} s"
    )


# --- scaling and disruption -----------------------------------------------------------------


def test_every_service_and_the_gateway_scale_on_cpu(objects: list[dict[str, Any]]) -> None:
    autoscalers = named(objects, "HorizontalPodAutoscaler")
    deployments = named(objects, "Deployment")
    for name in [*SERVICES, "gateway"]:
        assert name in autoscalers, f"no HorizontalPodAutoscaler for {name}"
        spec = autoscalers[name]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        [metric] = spec["metrics"]
        assert metric["resource"]["name"] == "cpu", f"{name}: the autoscaler scales on CPU"
        # The autoscaler owns the count; a `replicas` here would undo it on every apply.
        assert "replicas" not in deployments[name]["spec"], f"{name}: replicas beside an HPA"
        requests = service_or_gateway_requests(deployments[name])
        assert "cpu" in requests, f"{name}: CPU utilisation needs a CPU request"


def service_or_gateway_requests(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container["resources"]["requests"])


def test_every_deployment_has_a_disruption_budget(
    objects: list[dict[str, Any]],
) -> None:
    budgets = list(named(objects, "PodDisruptionBudget").values())
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert covering, f"Deployment/{obj['metadata']['name']}: no PodDisruptionBudget"
        # maxUnavailable, not minAvailable: a one-pod Deployment can still be drained.
        assert all("maxUnavailable" in b["spec"] for b in covering)


def test_replicas_per_environment(overlay: str, objects: list[dict[str, Any]]) -> None:
    autoscalers = named(objects, "HorizontalPodAutoscaler")
    deployments = named(objects, "Deployment")
    least = 2 if overlay == "prod" else 1
    for name, autoscaler in autoscalers.items():
        spec = autoscaler["spec"]
        assert spec["minReplicas"] >= least, f"{overlay}: {name} minReplicas < {least}"
        assert spec["maxReplicas"] >= spec["minReplicas"]
        if overlay == "dev":
            assert spec["minReplicas"] == 1, f"dev: {name} runs one pod"
    for name in ("auth-webhook-worker", "referral-webhook-worker"):
        assert deployments[name]["spec"]["replicas"] >= least, f"{overlay}: {name} replicas"


# --- network policies -----------------------------------------------------------------------


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        obj["metadata"]["name"]: obj["spec"]["template"]["metadata"]["labels"]
        for obj in objects
        if obj["kind"] in ("Deployment", "StatefulSet", "Job")
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
        if expression["operator"] == "Exists" and value is None:
            return False
    return True


def admitted(objects: list[dict[str, Any]], target: str) -> set[str]:
    """Who may connect to `target`'s pods: workload names in the namespace, `*` for any
    source, `namespace:<labels>` for other namespaces. Ingress isolation is assumed (default
    deny) and checked by the test below."""
    pods = pod_labels(objects)
    sources: set[str] = set()
    for policy in named(objects, "NetworkPolicy").values():
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", []):
            continue
        if not selects(spec["podSelector"], pods[target]):
            continue
        for rule in spec.get("ingress", []):
            peers = rule.get("from")
            if not peers:
                sources.add("*")
                continue
            for peer in peers:
                if "namespaceSelector" in peer:
                    sources.add(f"namespace:{peer['namespaceSelector'].get('matchLabels')}")
                elif "podSelector" in peer:
                    sources |= {
                        n for n, labels in pods.items() if selects(peer["podSelector"], labels)
                    }
    return sources


def test_ingress_is_denied_unless_a_policy_admits_it(objects: list[dict[str, Any]]) -> None:
    policies = named(objects, "NetworkPolicy").values()
    assert any(
        p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
        for p in policies
    ), "no default-deny ingress NetworkPolicy"


MONITORING = "namespace:{'kubernetes.io/metadata.name': 'monitoring'}"


def test_only_the_gateway_reaches_the_services(objects: list[dict[str, Any]]) -> None:
    expected = {
        # referral and profile read auth's JWK Set; profile rebuilds documents from referral;
        # auth's operator console reads referral's half.
        "auth": {"gateway", "referral", "profile", MONITORING},
        "referral": {"gateway", "profile", "auth", MONITORING},
        "profile": {"gateway", MONITORING},
    }
    for name, sources in expected.items():
        assert admitted(objects, name) == sources, f"who reaches {name}"
    for worker in ("auth-webhook-worker", "referral-webhook-worker"):
        assert admitted(objects, worker) == {MONITORING}, f"who reaches {worker}"


def test_the_gateway_is_reached_from_outside_and_reaches_only_the_services(
    overlay: str, objects: list[dict[str, Any]]
) -> None:
    sources = admitted(objects, "gateway")
    if overlay == "prod":
        assert sources == {"namespace:{'kubernetes.io/metadata.name': 'ingress-nginx'}"}
    else:
        assert sources == {"*"}
    [egress] = [
        p
        for p in named(objects, "NetworkPolicy").values()
        if "Egress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], pod_labels(objects)["gateway"])
    ]
    reached = set()
    for rule in egress["spec"]["egress"]:
        for peer in rule["to"]:
            labels = peer["podSelector"]["matchLabels"]
            reached.add(labels.get("app.kubernetes.io/name") or labels.get("k8s-app"))
    assert reached == {*SERVICES, "kube-dns"}


def test_only_the_services_reach_postgresql_and_redis(
    overlay: str, objects: list[dict[str, Any]]
) -> None:
    pods = pod_labels(objects)
    if overlay == "prod":
        assert not {"postgres", "redis"} & set(pods), "prod uses external stores"
        return
    database_clients = {
        *DATABASE_SERVICES,
        "auth-webhook-worker",
        "referral-webhook-worker",
        "auth-migrate",
        "referral-migrate",
    }
    assert admitted(objects, "postgres") == database_clients
    assert admitted(objects, "redis") == set(SERVICES)


# --- configuration and secrets --------------------------------------------------------------


def test_one_config_map_holds_the_settings_under_the_env_example_names(
    objects: list[dict[str, Any]],
) -> None:
    config = config_map(objects, "platform-config")["data"]
    documented = env_names(REPO_ROOT / ".env.example")
    unknown = sorted(set(config) - documented)
    assert not unknown, f"settings in the ConfigMap that .env.example does not name: {unknown}"
    assert not set(config) & SECRET_SETTINGS, "a secret setting in the ConfigMap"
    for name in SERVICES:
        container = service_container(objects, name)
        [source] = container["envFrom"]
        assert (
            source["configMapRef"]["name"]
            == config_map(objects, "platform-config")["metadata"]["name"]
        )


def test_environment_settings(overlay: str, objects: list[dict[str, Any]]) -> None:
    config = config_map(objects, "platform-config")["data"]
    if overlay == "prod":
        assert config["APP_ENV"] == "production"
        assert (config["DEV_SMS_INBOX"], config["COOKIE_SECURE"]) == ("false", "true")
        assert config["SMS_BACKEND"] == "webhook"
        assert config["JWT_GENERATE_KEY_IF_MISSING"] == "false"
        assert urlsplit(config["PUBLIC_BASE_URL"]).scheme == "https"
    else:
        assert config["APP_ENV"] == "development"
        assert config["DEV_SMS_INBOX"] == "true"
    assert config["WEBHOOK_DELIVERY"] == "worker"


def test_secret_settings_come_from_secrets_only(objects: list[dict[str, Any]]) -> None:
    problems = []
    for name, pod in workloads(objects):
        for container in containers(pod):
            for variable in container.get("env", []):
                if variable["name"] in SECRET_SETTINGS and "value" in variable:
                    problems.append(f"{name}: {variable['name']} is a literal value")
    for config in named(objects, "ConfigMap").values():
        for key, value in config.get("data", {}).items():
            # A URL with a password in it (`scheme://user:password@host`).
            if re.search(r"://[^/\s:@]+:[^@\s]+@", str(value)):
                problems.append(f"ConfigMap/{config['metadata']['name']} {key}: a credential")
    assert not problems, "\n".join(problems)


def test_no_secret_value_is_in_the_repository(overlay: str, objects: list[dict[str, Any]]) -> None:
    """Production's Secrets are the operator's (none is rendered); development's hold only
    `dev-insecure-` values, which production refuses, and password-less local URLs."""
    secrets = named(objects, "Secret")
    if overlay == "prod":
        assert not secrets, f"prod renders Secrets: {sorted(secrets)}"
        return
    for secret in secrets.values():
        for key, value in secret.get("stringData", {}).items() | _decoded(secret).items():
            password = urlsplit(value).password if "://" in value else value
            assert password is None or password.startswith(DEV_SECRET_PREFIX), (
                f"Secret/{secret['metadata']['name']} {key}: not a {DEV_SECRET_PREFIX} value"
            )


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def test_every_secret_and_config_reference_resolves_in_dev() -> None:
    """Development is complete: `kubectl apply -k` starts it with nothing created by hand."""
    objects = render("dev")
    secrets = {n: set(_decoded(s)) for n, s in named(objects, "Secret").items()}
    maps = {n: set(c.get("data", {})) for n, c in named(objects, "ConfigMap").items()}
    problems = []
    for name, pod in workloads(objects):
        for container in containers(pod):
            for variable, (secret, key, optional) in secret_refs(container).items():
                if not optional and key not in secrets.get(secret, set()):
                    problems.append(f"{name}: {variable} from missing {secret}/{key}")
            for source in container.get("envFrom", []):
                if source["configMapRef"]["name"] not in maps:
                    problems.append(f"{name}: missing ConfigMap {source['configMapRef']['name']}")
        for volume in pod.get("volumes", []):
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                problems.append(
                    f"{name}: volume from missing Secret {volume['secret']['secretName']}"
                )
            if "configMap" in volume and volume["configMap"]["name"] not in maps:
                problems.append(
                    f"{name}: volume from missing ConfigMap {volume['configMap']['name']}"
                )
    assert not problems, "\n".join(problems)


def test_the_production_secrets_are_documented() -> None:
    """deploy/k8s/README.md names every Secret and key production expects the operator to make."""
    readme = (K8S / "README.md").read_text()
    objects = render("prod")
    wanted: set[tuple[str, str]] = set()
    for _, pod in workloads(objects):
        for container in containers(pod):
            wanted |= {(secret, key) for secret, key, _ in secret_refs(container).values()}
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                wanted |= {
                    (volume["secret"]["secretName"], i["key"]) for i in volume["secret"]["items"]
                }
    for secret, key in sorted(wanted):
        assert f"`{secret}`" in readme and f"`{key}`" in readme, (
            f"deploy/k8s/README.md does not name Secret {secret} key {key}"
        )


# --- migrations, workers, the gateway -------------------------------------------------------


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_migrations_run_once_per_release_as_a_job(objects: list[dict[str, Any]], name: str) -> None:
    job = named(objects, "Job")[f"{name}-migrate"]
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["restartPolicy"] == "Never"
    assert container["image"] == service_container(objects, name)["image"]
    command = container["command"]
    assert command[:2] == ["alembic", "-c"] and command[3:] == ["upgrade", "head"]
    assert (REPO_ROOT / command[2]).is_file(), f"{command[2]} is not in the repository"
    database = f"{name.upper()}_DATABASE_URL"
    assert (
        secret_refs(container)[database] == secret_refs(service_container(objects, name))[database]
    )
    # The Job's Alembic environment and the service's start-up take the same lock.
    assert (
        "pg_advisory_xact_lock" in (REPO_ROOT / "libs/common/src/common/migrations.py").read_text()
    )


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_each_webhook_worker_is_its_own_deployment(
    objects: list[dict[str, Any]], name: str
) -> None:
    deployment = named(objects, "Deployment")[f"{name}-webhook-worker"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    service = service_container(objects, name)
    assert container["image"] == service["image"]
    module = f"{name}_service.webhook_worker"
    assert container["command"] == ["python", "-m", module]
    assert (REPO_ROOT / f"services/{name}/src/{name}_service/webhook_worker.py").is_file()
    assert container["envFrom"] == service["envFrom"], "the worker reads its service's settings"
    # Of the service's secrets, only its database and the webhook secret.
    database = f"{name.upper()}_DATABASE_URL"
    assert secret_refs(container) == {
        key: secret_refs(service)[key] for key in (database, "WEBHOOK_SECRET")
    }
    assert container["ports"] == [{"name": "metrics", "containerPort": WORKER_PORT}]
    [port] = [v["value"] for v in container["env"] if v["name"] == "WEBHOOK_WORKER_PORT"]
    assert port == str(WORKER_PORT)
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_the_gateway_renders_the_template_with_its_placeholders(
    objects: list[dict[str, Any]],
) -> None:
    """The gateway image holds gateway/templates/default.conf.template and renders it with
    envsubst from these variables (NGINX_ENVSUBST_FILTER in gateway/Dockerfile)."""
    [container] = named(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"]
    assert "/gateway:" in container["image"] or container["image"].startswith(
        "referral-platform-gateway:"
    )
    env = {v["name"]: v for v in container["env"]}
    assert set(env) == TEMPLATE_VARIABLES
    dockerfile = (REPO_ROOT / "gateway" / "Dockerfile").read_text()
    for variable in TEMPLATE_VARIABLES:
        assert variable in re.search(r'NGINX_ENVSUBST_FILTER="([^"]+)"', dockerfile).group(1)  # type: ignore[union-attr]
    services = named(objects, "Service")
    for name, port in SERVICES.items():
        assert env[f"{name.upper()}_UPSTREAM"]["value"] == f"{name}:{port}"
        assert services[name]["spec"]["ports"][0]["port"] == port
    assert container["readinessProbe"]["httpGet"]["path"] == "/number_input/"
