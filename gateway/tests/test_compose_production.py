"""compose.prod.yml merged onto docker-compose.yml, as `docker compose -f ... -f ...` would.

The merged model must hold no development value, require every secret before anything starts,
pass every setting each service reads, and publish nothing but the gateway.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.tests.compose_model import (
    CONTRACT_SETTINGS,
    PYTHON_SERVICES,
    RESET,
    MissingVariable,
    Override,
    interpolate,
    load,
    merge,
    resolve,
    settings_class,
    settings_env_names,
    strings,
)

# Everything production must be given; each stops compose when unset or empty.
REQUIRED = {
    "OTP_HMAC_SECRET": "otp-hmac-secret-of-at-least-32-bytes-000000",
    "POSTGRES_PASSWORD": "postgres-password-0000000000000000000000",
    "AUTH_DB_PASSWORD": "auth-db-password-000000000000000000000000",
    "REFERRAL_DB_PASSWORD": "referral-db-password-00000000000000000000",
    "SMS_WEBHOOK_URL": "https://sms.example.com/hooks/otp",
    "SMS_WEBHOOK_SECRET": "whsec_c2lnbmluZy1zZWNyZXQtb2YtMzItYnl0ZXMtMDAwMDA=",
    "JWT_PRIVATE_KEY_PATH": "/etc/referral-platform/jwt-ed25519.pem",
    "VISITOR_HASH_KEY": "visitor-hash-key-of-at-least-32-bytes-0000",
    "AUDIT_HASH_KEY": "audit-hash-key-of-at-least-32-bytes-000000",
    "PUBLIC_BASE_URL": "https://invite.example.com",
}
# Secrets of optional features: passed through when given, refused in production only when
# weak and the feature is on (WEBHOOK_SECRET with WEBHOOK_URL set).
OPTIONAL_SECRETS = {"WEBHOOK_SECRET"}
# What a .env copied from .env.example, or a developer's shell, may hold: none of it may turn
# production back into development.
DEVELOPMENT_ENVIRONMENT = {
    "APP_ENV": "development",
    "DEV_SMS_INBOX": "true",
    "COOKIE_SECURE": "false",
    "SMS_BACKEND": "console",
    "JWT_GENERATE_KEY_IF_MISSING": "true",
    "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----dev-----END PRIVATE KEY-----",
    "OTP_HMAC_SECRET": "dev-insecure-otp-hmac-key",
}
SIGNING_KEY = "/run/secrets/jwt_private_key"


@pytest.fixture(scope="module")
def base(repo_root: Path) -> dict[str, Any]:
    return load(repo_root / "docker-compose.yml")


@pytest.fixture(scope="module")
def override(repo_root: Path) -> dict[str, Any]:
    return load(repo_root / "compose.prod.yml")


def production(base: dict[str, Any], override: dict[str, Any], env: dict[str, str]) -> Any:
    """The model compose runs: each file interpolated with `env`, then merged."""
    return merge(resolve(base, env), resolve(override, env))


@pytest.fixture(scope="module")
def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    return production(base, override, REQUIRED)


def environment(model: dict[str, Any], service: str) -> dict[str, str]:
    env = model["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a map merges key by key"
    return env


def secret_settings(service: str) -> set[str]:
    """The settings of `service` that hold secrets (SecretStr), by environment name."""
    settings = settings_class(service)
    return {
        name.upper()
        for name, field in settings.model_fields.items()
        if field.annotation is SecretStr or SecretStr in getattr(field.annotation, "__args__", ())
    }


# --- the merge itself -------------------------------------------------------------------------


def test_the_merge_follows_the_compose_rules() -> None:
    base = {
        "services": {
            "web": {
                "environment": {"A": "1", "B": "2"},
                "command": ["serve", "--dev"],
                "ports": ["127.0.0.1:80:8080", "9000:9000"],
                "volumes": ["data:/data", "keys:/keys"],
                "dns": ["1.1.1.1"],
                "healthcheck": {"test": ["CMD", "a"], "interval": "5s"},
            }
        }
    }
    override = {
        "services": {
            "web": {
                "environment": {"B": "3", "C": "4", "A": RESET},
                "command": ["serve"],
                "ports": ["127.0.0.1:80:8080"],
                "volumes": ["other:/data"],
                "dns": ["8.8.8.8"],
                "healthcheck": {"test": ["CMD", "b"]},
            },
            "db": {"ports": Override(["5432:5432"])},
        }
    }

    web = merge(base, override)["services"]["web"]

    assert web["environment"] == {"B": "3", "C": "4"}
    assert web["command"] == ["serve"]
    assert web["ports"] == ["127.0.0.1:80:8080", "9000:9000"]
    assert web["volumes"] == ["other:/data", "keys:/keys"]
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web["healthcheck"] == {"test": ["CMD", "b"], "interval": "5s"}
    assert merge(base, {"services": {"web": {"ports": Override(["1:1"])}}})["services"]["web"][
        "ports"
    ] == ["1:1"]
    assert "ports" not in merge(base, {"services": {"web": {"ports": RESET}}})["services"]["web"]


def test_interpolation_follows_the_compose_rules() -> None:
    env = {"SET": "value", "EMPTY": ""}

    assert interpolate("${SET:-x} ${EMPTY:-x} ${UNSET:-x} ${EMPTY-x} $SET $$SET", env) == (
        "value x x  value $SET"
    )
    assert interpolate("${SET:?needed}", env) == "value"
    with pytest.raises(MissingVariable, match="EMPTY"):
        interpolate("${EMPTY:?needed}", env)
    with pytest.raises(MissingVariable, match="UNSET"):
        interpolate("${UNSET?needed}", env)


# --- production -------------------------------------------------------------------------------


def test_no_development_value_survives(
    base: dict[str, Any], override: dict[str, Any], merged: dict[str, Any]
) -> None:
    # Before interpolation, so that not even a default is a development value.
    unresolved = merge(base, override)
    for service in PYTHON_SERVICES:
        assert not [s for s in strings(unresolved["services"][service]) if "dev-insecure-" in s]
    assert not [s for s in strings(unresolved["services"]["postgres"]) if "dev-insecure-" in s]

    for env in (REQUIRED, {**DEVELOPMENT_ENVIRONMENT, **REQUIRED}):
        model = production(base, override, env)
        for service in PYTHON_SERVICES:
            service_env = environment(model, service)
            assert service_env["APP_ENV"] == "production", service
            assert service_env["COOKIE_SECURE"] == "true", service
        auth = environment(model, "auth")
        assert auth["DEV_SMS_INBOX"] == "false"
        assert auth["SMS_BACKEND"] == "webhook"
        assert auth["JWT_GENERATE_KEY_IF_MISSING"] == "false"
        assert auth["JWT_PRIVATE_KEY"] == ""
        assert auth["JWT_PRIVATE_KEY_FILE"] == SIGNING_KEY
        assert not [s for s in strings(model["services"]) if s.startswith("dev-insecure-")]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_secret_is_required_before_anything_starts(
    base: dict[str, Any], override: dict[str, Any], name: str
) -> None:
    uses = [text for text in strings(override) if f"${{{name}" in text]
    assert uses, f"compose.prod.yml does not use {name}"
    assert all(re.search(rf"\$\{{{name}:\?[^}}]+\}}", text) for text in uses), uses
    assert not [text for text in strings(override) if f"${{{name}:-" in text]

    for missing in (None, ""):
        env = {key: value for key, value in REQUIRED.items() if key != name}
        if missing is not None:
            env[name] = missing
        with pytest.raises(MissingVariable, match=name):
            production(base, override, env)


def test_every_secret_a_service_reads_is_required(merged: dict[str, Any]) -> None:
    """A secret added to a settings class fails here until production requires it."""
    for service in PYTHON_SERVICES:
        for name in secret_settings(service):
            if name == "JWT_PRIVATE_KEY":
                continue  # from a compose secret instead: the next test
            if name in OPTIONAL_SECRETS:
                assert name in environment(merged, service), f"{service} is not given {name}"
                continue
            assert name in REQUIRED, f"{service} reads the secret {name}"
            assert environment(merged, service)[name] == REQUIRED[name]


def test_the_signing_key_is_a_compose_secret(merged: dict[str, Any]) -> None:
    auth = merged["services"]["auth"]

    assert auth["secrets"] == ["jwt_private_key"]
    assert merged["secrets"]["jwt_private_key"] == {"file": REQUIRED["JWT_PRIVATE_KEY_PATH"]}
    assert environment(merged, "auth")["JWT_PRIVATE_KEY_FILE"] == SIGNING_KEY
    # No volume for a key made on first start: production never makes one.
    assert not auth.get("volumes")


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_each_service_gets_every_setting_it_reads(merged: dict[str, Any], name: str) -> None:
    env = environment(merged, name)
    reads = settings_env_names(settings_class(name))

    assert not reads - set(env), f"not passed to {name}: {sorted(reads - set(env))}"
    assert set(env) <= reads | CONTRACT_SETTINGS


@pytest.mark.parametrize("name", ["auth", "profile", "referral"])
def test_a_service_starts_on_the_production_settings(
    merged: dict[str, Any], clean_environment: pytest.MonkeyPatch, name: str
) -> None:
    for variable, value in environment(merged, name).items():
        clean_environment.setenv(variable, value)

    settings = settings_class(name)()

    assert settings.is_production  # type: ignore[attr-defined]
    assert settings.cookie_secure  # type: ignore[attr-defined]


def test_only_the_gateway_publishes_a_port(base: dict[str, Any], override: dict[str, Any]) -> None:
    for env, address, port in [
        (REQUIRED, "127.0.0.1", "8080"),
        ({**REQUIRED, "GATEWAY_BIND_ADDRESS": "10.0.0.5", "GATEWAY_PORT": "80"}, "10.0.0.5", "80"),
    ]:
        services = production(base, override, env)["services"]

        published = {name for name, service in services.items() if service.get("ports")}
        assert published == {"gateway"}
        assert not [name for name, s in services.items() if s.get("network_mode") == "host"]
        # !override: the development binding is replaced, not joined by a second one.
        assert services["gateway"]["ports"] == [
            {"host_ip": address, "published": port, "target": 8080}
        ]


def test_the_gateway_believes_only_the_proxy_the_operator_names(
    merged: dict[str, Any], repo_root: Path
) -> None:
    mounts = [volume.split(":") for volume in merged["services"]["gateway"]["volumes"]]

    assert mounts == [["./deploy/gateway/real-ip.conf", "/etc/nginx/conf.d/real-ip.conf", "ro"]]
    shipped = (repo_root / mounts[0][0]).read_text()
    assert all(line.startswith("#") or not line.strip() for line in shipped.splitlines())


@pytest.mark.parametrize("variant", ["development", "production"])
def test_redis_keeps_every_acknowledged_write_on_disk(
    base: dict[str, Any], merged: dict[str, Any], variant: str
) -> None:
    model = resolve(base, {}) if variant == "development" else merged
    redis = model["services"]["redis"]
    command = redis["command"]

    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "always"
    volume, target = redis["volumes"][0].split(":")
    assert target == "/data"
    assert volume in model["volumes"]
