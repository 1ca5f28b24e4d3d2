"""The part of Docker Compose the compose tests need, without Docker: read, merge, interpolate.

- YAML as compose reads it: anchors and `<<` merge keys, and its `!reset` and `!override` tags.
- Merging an override file onto a base by the Compose Specification's rules
  (https://docs.docker.com/reference/compose-file/merge/): mappings merge key by key (so
  `environment` does), sequences are appended, except `command`, `entrypoint` and
  `healthcheck.test`, which are replaced, and `ports`, `volumes`, `secrets` and `configs`, whose
  entries replace those with the same unique key; `!reset` removes, `!override` replaces.
- Interpolation: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
  `${NAME:?message}` and `${NAME?message}`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings


class Reset:
    """`!reset`: the attribute goes, whatever the files before said."""


RESET = Reset()


@dataclass(frozen=True)
class Override:
    """`!override`: the attribute is this value, not a merge with what came before."""

    value: Any


class ComposeLoader(yaml.SafeLoader):
    pass


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", lambda loader, node: RESET)
ComposeLoader.add_constructor("!override", _override)


def load(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=ComposeLoader)  # noqa: S506 - SafeLoader
    assert isinstance(document, dict), path
    return document


def _port_key(port: Any) -> tuple[str, str, str, str]:
    if isinstance(port, dict):
        return (
            str(port.get("host_ip", "")),
            str(port.get("published", "")),
            str(port["target"]),
            str(port.get("protocol", "tcp")),
        )
    # [[ip:]published:]target[/protocol], interpolated first as compose does.
    text, _, protocol = str(port).partition("/")
    ip, published, target = ["", "", *text.rsplit(":", 2)][-3:]
    return ip, published, target, protocol or "tcp"


def _mount_key(mount: Any) -> str:
    if isinstance(mount, dict):
        return str(mount["target"])
    parts = str(mount).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _secret_key(secret: Any) -> str:
    if isinstance(secret, dict):
        return str(secret.get("target", secret["source"]))
    return str(secret)


_REPLACED = {("command",), ("entrypoint",), ("healthcheck", "test")}
_UNIQUE: dict[str, Callable[[Any], Any]] = {
    "ports": _port_key,
    "volumes": _mount_key,
    "secrets": _secret_key,
    "configs": _secret_key,
}


def _plain(value: Any) -> Any:
    """A value as the merged model holds it: no tags left."""
    if isinstance(value, Override):
        return _plain(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not RESET}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def merge(base: Any, override: Any, path: tuple[str, ...] = ()) -> Any:
    """`override` merged onto `base` as `docker compose -f base -f override` would."""
    if isinstance(override, Override):
        return _plain(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is RESET:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = merge(merged[key], value, (*path, key))
            else:
                merged[key] = _plain(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        attribute = path[2:] if path[:1] == ("services",) else ()
        if attribute in _REPLACED:
            return _plain(override)
        if len(attribute) == 1 and attribute[0] in _UNIQUE:
            unique_key = _UNIQUE[attribute[0]]
            merged_items = {unique_key(item): item for item in base}
            merged_items.update((unique_key(item), _plain(item)) for item in override)
            return list(merged_items.values())
        return base + _plain(override)
    return _plain(override)


class MissingVariable(LookupError):
    """`${NAME:?message}` met an unset or empty NAME: compose stops before anything starts."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        value = env.get(name)
        operator, argument = match["operator"], match["argument"]
        missing = value is None or (value == "" and operator is not None and ":" in operator)
        if operator in {":-", "-"}:
            return argument if missing else str(value)
        if operator in {":?", "?"} and missing:
            raise MissingVariable(name, argument)
        return value or ""

    return _VARIABLE.sub(substitute, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """Every string of `node` interpolated with `env`, as compose does before it merges."""
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, Override):
        return Override(resolve(node.value, env))
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def strings(node: Any) -> list[str]:
    """Every string anywhere in `node`, keys included."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in [str(key), *strings(value)]]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    if isinstance(node, Override):
        return strings(node.value)
    return [node] if isinstance(node, str) else []


def settings_env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable name pydantic-settings would read for `settings`."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif alias is None or isinstance(alias, AliasPath):
            names.add(f"{prefix}{name}".upper())
    return names


# --- this repository ------------------------------------------------------------------------

# Each Python service: its package, and the module and class of its settings.
PYTHON_SERVICES = {
    "auth": ("auth_service", "auth_service.config", "AuthSettings"),
    "referral": ("referral_service", "referral_service.config", "ReferralSettings"),
    "profile": ("profile_service", "profile_service.config", "ProfileSettings"),
}

# The contract's configuration names (§7; PORT and GATEWAY_PORT belong to the run modes): compose
# may pass one of these before the service that is to read it does.
CONTRACT_SETTINGS = frozenset(
    {
        "OTP_LENGTH",
        "OTP_TTL_SECONDS",
        "OTP_MAX_ATTEMPTS",
        "OTP_LOCKOUT_FAILURES",
        "OTP_LOCKOUT_SECONDS",
        "OTP_RESEND_COOLDOWN_SECONDS",
        "OTP_MAX_PER_PHONE_PER_HOUR",
        "OTP_MAX_PER_IP_PER_HOUR",
        "ACCESS_TOKEN_TTL_SECONDS",
        "REFRESH_TOKEN_TTL_SECONDS",
        "COOKIE_SECURE",
        "SMS_BACKEND",
        "DEV_SMS_INBOX",
        "INVITED_USERS_PAGE_SIZE",
        "UPSTREAM_TIMEOUT_SECONDS",
        "AUTH_DATABASE_URL",
        "REFERRAL_DATABASE_URL",
        "REDIS_URL",
        "REFRESH_REUSE_GRACE_SECONDS",
        "OTP_LOCKOUT_FAILURES_PER_PHONE",
        "OTP_MAX_VERIFY_FAILURES_PER_IP_PER_HOUR",
        "ACTIVATION_FAILURES_PER_USER_PER_HOUR",
        "SMS_WEBHOOK_URL",
        "SMS_WEBHOOK_SECRET",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "WEBHOOK_MAX_AGE_SECONDS",
        "PUBLIC_BASE_URL",
        "ADMIN_PHONES",
    }
)


def settings_class(service: str) -> type[BaseSettings]:
    _, module, name = PYTHON_SERVICES[service]
    settings = getattr(importlib.import_module(module), name)
    assert issubclass(settings, BaseSettings)
    return settings
