"""docker-compose.yml and the Dockerfiles, checked by reading them (no Docker engine needed).

What a `docker compose up` would find out the slow way: a missing file, a module that does not
exist, a port that does not match, a variable no service reads, a dependency started too early.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import make_url

from gateway.tests.compose_model import (
    CONTRACT_SETTINGS,
    PYTHON_SERVICES,
    load,
    settings_class,
    settings_env_names,
)
from gateway.tests.compose_model import interpolate as compose_interpolate
from gateway_config.render import TEMPLATE, TEMPLATE_VARIABLES

SERVICES = {
    "auth",
    "referral",
    "profile",
    "gateway",
    "postgres",
    "redis",
    "auth-webhooks",
    "referral-webhooks",
}
# The webhook delivery workers: each runs its service's image with another command.
WEBHOOK_WORKERS = {"auth-webhooks": "auth", "referral-webhooks": "referral"}
# Who must be healthy before whom.
REQUIRED_DEPENDENCIES = {
    "auth": {"postgres", "redis"},
    "referral": {"postgres", "redis"},
    "profile": {"auth", "referral", "redis"},
    "gateway": {"auth", "referral", "profile"},
    "auth-webhooks": {"auth"},
    "referral-webhooks": {"referral"},
}
# Settings whose value the topology decides (other containers, the key's place on its volume):
# not taken from the environment compose runs in.
FIXED_BY_TOPOLOGY = {
    "REDIS_URL",
    "AUTH_DATABASE_URL",
    "REFERRAL_DATABASE_URL",
    "AUTH_SERVICE_URL",
    "REFERRAL_SERVICE_URL",
    "JWKS_URL",
    "JWT_PRIVATE_KEY_FILE",
    "TRUSTED_PROXIES",
    # The services only write their events; the webhook workers deliver them.
    "WEBHOOK_DELIVERY",
}
# Where the local mode of the contract departs from the code's defaults (§3, §2).
LOCAL_MODE = {"DEV_SMS_INBOX", "COOKIE_SECURE", "JWT_GENERATE_KEY_IF_MISSING", "OTP_HMAC_SECRET"}

Parse = Callable[[Path], list[Any]]

# The one Dockerfile of the Python services; the SERVICE build argument picks the service.
SERVICE_DOCKERFILE = "services/Dockerfile"


def interpolate(value: object) -> str:
    """A compose value as it resolves with none of the variables set."""
    return compose_interpolate(str(value), {})


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    return load(repo_root / "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolate(value) for name, value in service.get("environment", {}).items()}


def instruction(instructions: list[Any], keyword: str) -> str:
    found = [i.arguments for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


def exec_form(arguments: str) -> list[str]:
    """A JSON-array CMD or HEALTHCHECK CMD; the shell form would hide signals from the app."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def dockerfile_env(instructions: list[Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in instructions:
        if item.keyword == "ENV":
            for pair in shlex.split(item.arguments):
                name, _, value = pair.partition("=")
                env[name] = value.replace("\\$", "$")
    return env


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
# What Docker substitutes variables in (RUN: its shell does, with the ARGs in its environment).
# Never CMD, ENTRYPOINT or HEALTHCHECK: what their exec form says is what runs.
_EXPANDED = {"ADD", "ARG", "COPY", "ENV", "EXPOSE", "LABEL", "RUN", "USER", "VOLUME", "WORKDIR"}


def expand(text: str, variables: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` substituted; a name not set stays as written (`$PATH` in an ENV,
    which is the base image's)."""
    return _VARIABLE.sub(lambda m: variables.get(m[1] or m[2], m[0]), text)


@dataclass(frozen=True)
class Image:
    """What `docker build --build-arg ...` makes of a Dockerfile, read without Docker."""

    built: list[Any]  # every instruction of every stage the build runs, variables substituted
    own: list[Any]  # the image's own: its last stage's and those of the stages it is FROM
    env: dict[str, str]  # the ENV the Dockerfile gives the image


def stage_of(from_arguments: str) -> tuple[str, str]:
    """`FROM image [AS name]`: the image (or stage) and the name, in lower case as Docker has it."""
    base, *name = re.split(r"\s+as\s+", from_arguments.strip(), flags=re.IGNORECASE)
    return base, (name[0].lower() if name else "")


def build_image(instructions: list[Any], args: Mapping[str, str]) -> Image:
    global_args: dict[str, str] = {}
    stages: list[tuple[Any, str, list[Any]]] = []  # FROM, its name (lower case), the rest
    for item in instructions:
        if item.keyword == "FROM":
            base, name = stage_of(item.arguments)
            stages.append((replace(item, arguments=expand(base, global_args)), name, []))
        elif stages:
            stages[-1][2].append(item)
        else:
            assert item.keyword == "ARG", f"{item.keyword} before the first FROM"
            key, _, default = item.arguments.partition("=")
            global_args[key] = args.get(key, default)
    by_name = {name: index for index, (_, name, _) in enumerate(stages) if name}

    def run(index: int) -> tuple[list[Any], dict[str, str], list[Any]]:
        """A stage built: its image's instructions, its ENV, those of the stages it copies from."""
        head, _, body = stages[index]
        if head.arguments.lower() in by_name:
            inherited, inherited_env, copied = run(by_name[head.arguments.lower()])
            own, env, copied = list(inherited), dict(inherited_env), list(copied)
        else:
            own, env, copied = [head], {}, []
        variables: dict[str, str] = {}
        for item in body:
            arguments = item.arguments
            if item.keyword in _EXPANDED:
                arguments = expand(arguments, {**variables, **env})
            if item.keyword == "ARG":
                key, has_default, default = arguments.partition("=")
                variables[key] = args.get(key, default if has_default else global_args.get(key, ""))
            elif item.keyword == "ENV":
                for pair in shlex.split(arguments):
                    name, _, value = pair.partition("=")
                    env[name] = value
            elif item.keyword == "COPY" and arguments.startswith("--from="):
                source = arguments.split()[0].removeprefix("--from=").lower()
                source_own, _, source_copied = run(by_name[source])
                copied += source_copied + source_own
            own.append(replace(item, arguments=arguments))
        return own, env, copied

    own, env, copied = run(len(stages) - 1)
    return Image(built=copied + own, own=own, env=env)


@pytest.fixture(scope="module")
def images(
    services: dict[str, dict[str, Any]], repo_root: Path, dockerfile: Parse
) -> dict[str, Image]:
    """The image of every service compose builds, built with the build arguments compose passes."""
    built: dict[str, Image] = {}
    for name, service in services.items():
        if "build" in service:
            args = service["build"].get("args", {})
            assert isinstance(args, dict), name
            path = repo_root / service["build"]["dockerfile"]
            built[name] = build_image(dockerfile(path), {k: str(v) for k, v in args.items()})
    return built


def command(image: Image) -> list[str]:
    """The process the image's CMD starts: an `sh -c` script is read with the image's ENV."""
    argv = exec_form(instruction(image.own, "CMD"))
    if argv[:2] != ["sh", "-c"]:
        return argv
    assert len(argv) == 3, argv
    script = expand(argv[2], image.env)
    assert "$" not in script, f"the image sets no {script}"
    words = shlex.split(script)
    assert words[0] == "exec", "without exec, sh stays PID 1 and the app never gets the signals"
    return words[1:]


def service_port(image: Image) -> int:
    argv = command(image)
    return int(argv[argv.index("--port") + 1])


def health_url(image: Image, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL the image's HEALTHCHECK opens: its Python run here, with the image's ENV."""
    check = exec_form(instruction(image.own, "HEALTHCHECK").split(" CMD ", 1)[1])
    assert check[:2] == ["python", "-c"] and len(check) == 3, check
    opened: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: opened.append(url))
    for name, value in image.env.items():
        if "$" not in value:  # not PATH, which extends the base image's
            monkeypatch.setenv(name, value)
    exec(check[2], {})  # noqa: S102 - the Dockerfile's own check, urlopen replaced
    (url,) = opened
    return url


def test_the_services_are_the_six_of_the_architecture(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


def test_only_the_gateway_publishes_a_port(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"gateway"}
    assert all(service.get("network_mode") != "host" for service in services.values())
    (port,) = services["gateway"]["ports"]
    assert interpolate(port) == "127.0.0.1:8080:8080"
    assert "${GATEWAY_PORT:-8080}" in port


def test_every_service_restarts_and_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service.get("restart") in {"unless-stopped", "always"}, name
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name


def test_dependencies_wait_for_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, condition in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
        assert REQUIRED_DEPENDENCIES.get(name, set()) <= set(depends_on), name


@pytest.mark.parametrize("name", ["auth", "referral", "profile", "gateway"])
def test_each_build_uses_the_repo_root_and_an_existing_dockerfile(
    services: dict[str, Any], images: dict[str, Image], repo_root: Path, name: str
) -> None:
    build = services[name]["build"]
    assert build["context"] == "."
    path = repo_root / build["dockerfile"]
    assert path.is_file()
    for item in images[name].built:
        if item.keyword == "COPY" and not item.arguments.startswith("--from"):
            *sources, _ = shlex.split(item.arguments)
            for source in sources:
                assert "$" not in source, f"{path}: COPY {source}, a build argument not passed"
                assert (repo_root / source).exists(), f"{path}: COPY {source}"


def test_the_python_services_build_from_one_dockerfile_with_their_service_argument(
    services: dict[str, Any],
) -> None:
    from_it = {name for name, s in services.items() if "build" in s} - {"gateway"}
    assert from_it == set(PYTHON_SERVICES) | set(WEBHOOK_WORKERS)
    for name in from_it:
        assert services[name]["build"] == {
            "context": ".",
            "dockerfile": SERVICE_DOCKERFILE,
            "args": {"SERVICE": WEBHOOK_WORKERS.get(name, name)},
        }, name
    for name, service in WEBHOOK_WORKERS.items():
        assert services[name]["command"] == ["python", "-m", f"{service}_service.webhook_worker"]


def test_the_dockerfiles_service_mapping_is_the_three_services_on_the_ports_compose_uses(
    services: dict[str, Any], images: dict[str, Image], repo_root: Path, dockerfile: Parse
) -> None:
    """The stages a SERVICE argument picks are exactly the Python services, each on its port:
    the one its healthcheck, the gateway and the other services reach it on."""
    instructions = dockerfile(repo_root / SERVICE_DOCKERFILE)
    froms = [i.arguments for i in instructions if i.keyword == "FROM"]
    assert froms[-1] == "${SERVICE}"
    default = next(i.arguments for i in instructions if i.keyword == "ARG")
    mapping: dict[str, int] = {}
    stage = ""
    for item in instructions:
        if item.keyword == "FROM":
            stage = stage_of(item.arguments)[1]
        elif item.keyword == "ENV" and "SERVICE_PORT=" in item.arguments:
            mapping[stage] = int(dockerfile_env([item])["SERVICE_PORT"])
    assert set(mapping) == set(PYTHON_SERVICES) == {"auth", "referral", "profile"}
    assert default.partition("=")[2] in mapping, "the default SERVICE must be one of them"

    gateway = environment(services["gateway"])
    for name, port in mapping.items():
        assert service_port(images[name]) == port, name
        assert f"127.0.0.1:{port}/healthz" in " ".join(services[name]["healthcheck"]["test"])
        assert gateway[f"{name.upper()}_UPSTREAM"] == f"{name}:{port}"
    assert len(set(mapping.values())) == len(mapping), "two services on one port"


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_a_service_image_runs_its_own_app_factory_as_a_non_root_user(
    services: dict[str, Any],
    images: dict[str, Image],
    repo_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    package = PYTHON_SERVICES[name][0]
    image = images[name]

    bases = [i.arguments for i in image.built if i.keyword == "FROM"]
    assert bases and all(base.startswith("python:3.11-") for base in bases)
    assert instruction(image.own, "USER").split(":")[0] not in {"root", "0"}
    syncs = [
        shlex.split(i.arguments)
        for i in image.built
        if i.keyword == "RUN" and "uv sync" in i.arguments
    ]
    assert syncs and all(
        {"--frozen", "--no-dev"} <= set(run)
        and run[run.index("--package") + 1] == f"{name}-service"
        for run in syncs
    )
    # Its whole folder: the sources, and the Alembic migrations where it has them.
    copies = {tuple(shlex.split(i.arguments)) for i in image.built if i.keyword == "COPY"}
    assert (f"services/{name}", f"services/{name}") in copies

    port = service_port(image)
    assert command(image) == [
        "uvicorn",
        f"{package}.main:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--no-access-log",
        "--no-proxy-headers",
    ]
    main = repo_root / f"services/{name}/src/{package}/main.py"
    assert re.search(r"^def create_app\(", main.read_text(), re.MULTILINE), main
    assert instruction(image.own, "EXPOSE") == str(port)

    url = f"http://127.0.0.1:{port}/healthz"
    assert health_url(image, monkeypatch) == url
    assert url in " ".join(services[name]["healthcheck"]["test"])


def test_the_gateway_image_serves_the_template_and_the_frontend(
    repo_root: Path, dockerfile: Parse
) -> None:
    instructions = dockerfile(repo_root / "gateway/Dockerfile")
    assert instruction(instructions, "FROM").startswith("nginx:1.")
    copies = {tuple(shlex.split(i.arguments)) for i in instructions if i.keyword == "COPY"}
    env = dockerfile_env(instructions)
    assert ("gateway/nginx.conf", "/etc/nginx/nginx.conf") in copies
    assert ("gateway/templates/", "/etc/nginx/templates/") in copies
    assert ("frontend/", env["FRONTEND_ROOT"] + "/") in copies
    assert instruction(instructions, "EXPOSE") == env["GATEWAY_LISTEN"] == "8080"


def test_the_envsubst_filter_admits_exactly_the_template_placeholders(
    repo_root: Path, dockerfile: Parse
) -> None:
    pattern = dockerfile_env(dockerfile(repo_root / "gateway/Dockerfile"))["NGINX_ENVSUBST_FILTER"]
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", TEMPLATE.read_text()))
    assert placeholders == TEMPLATE_VARIABLES
    # The image's entrypoint keeps the environment names the filter matches (awk's `~`).
    for name in placeholders:
        assert re.search(pattern, name), name
    for name in (
        "uri",
        "host",
        "request_id",
        "HOSTNAME",
        "PATH",
        "AUTH_UPSTREAM_X",
        "XFRONTEND_ROOT",
    ):
        assert not re.search(pattern, name), name


def test_the_gateway_gets_every_template_variable(
    services: dict[str, Any], images: dict[str, Image], repo_root: Path, dockerfile: Parse
) -> None:
    image_env = dockerfile_env(dockerfile(repo_root / "gateway/Dockerfile"))
    env = {**image_env, **environment(services["gateway"])}
    assert set(env) >= TEMPLATE_VARIABLES
    for name, upstream in [
        ("auth", "AUTH_UPSTREAM"),
        ("referral", "REFERRAL_UPSTREAM"),
        ("profile", "PROFILE_UPSTREAM"),
    ]:
        assert env[upstream] == f"{name}:{service_port(images[name])}"
        assert image_env[upstream] == env[upstream]
    assert env["GATEWAY_LISTEN"] == "8080"


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_each_service_gets_every_setting_it_reads(services: dict[str, Any], name: str) -> None:
    """A setting added to a settings class fails here until compose passes it."""
    missing = settings_env_names(settings_class(name)) - set(environment(services[name]))

    assert not missing, f"docker-compose.yml does not pass {sorted(missing)} to {name}"


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_each_service_knows_and_accepts_every_variable_compose_sets(
    services: dict[str, Any], clean_environment: pytest.MonkeyPatch, name: str
) -> None:
    settings = settings_class(name)
    env = environment(services[name])

    assert set(env) <= settings_env_names(settings) | CONTRACT_SETTINGS

    for variable, value in env.items():
        clean_environment.setenv(variable, value)
    assert settings().app_env == "development"  # type: ignore[attr-defined]
    clean_environment.setenv("APP_ENV", "production")
    if name == "auth":
        with pytest.raises(ValueError, match="OTP_HMAC_SECRET"):
            settings()


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_development_defaults_are_the_codes_except_for_the_local_mode(
    services: dict[str, Any], clean_environment: pytest.MonkeyPatch, name: str
) -> None:
    """Each setting is `${NAME:-default}`, its default the code's own, unless the topology
    fixes it or the contract's local mode differs (dev inbox, plain-http cookies, a key made
    on first start, a dev-insecure- secret)."""
    raw = services[name]["environment"]
    settings = settings_class(name)
    reads = settings_env_names(settings)
    code_defaults = settings().model_dump()
    for variable, value in environment(services[name]).items():
        clean_environment.setenv(variable, value)
    from_compose = settings().model_dump()

    for variable in sorted(reads & set(raw)):
        if variable in FIXED_BY_TOPOLOGY:
            assert f"${{{variable}" not in raw[variable], variable
            continue
        assert re.fullmatch(rf"\$\{{{variable}:-[^}}]*\}}", raw[variable]), raw[variable]
        if variable not in LOCAL_MODE:
            field = variable.lower()
            assert from_compose[field] == code_defaults[field], variable


def test_auth_runs_in_the_contracts_local_mode(services: dict[str, Any]) -> None:
    env = environment(services["auth"])
    assert env["DEV_SMS_INBOX"] == "true"
    assert env["COOKIE_SECURE"] == "false"
    assert env["SMS_BACKEND"] == "console"
    assert env["JWT_GENERATE_KEY_IF_MISSING"] == "true"
    assert env["OTP_HMAC_SECRET"].startswith("dev-insecure-")
    assert "${OTP_HMAC_SECRET:-" in services["auth"]["environment"]["OTP_HMAC_SECRET"]


def test_the_signing_key_lives_on_a_named_volume_the_app_may_write(
    compose: dict[str, Any], images: dict[str, Image]
) -> None:
    auth = compose["services"]["auth"]
    key_dir = str(Path(environment(auth)["JWT_PRIVATE_KEY_FILE"]).parent)
    mounts = {target: source for source, target, *_ in (v.split(":") for v in auth["volumes"])}
    assert mounts[key_dir] in compose["volumes"]
    # An empty named volume takes the image directory's owner: the app user's, made here.
    runs = [i.arguments for i in images["auth"].own if i.keyword == "RUN"]
    assert any(f"chown app:app {key_dir}" in run for run in runs)


def test_service_urls_point_at_compose_services_and_their_ports(
    services: dict[str, Any], images: dict[str, Image]
) -> None:
    for name in PYTHON_SERVICES:
        for variable, value in environment(services[name]).items():
            if not value.startswith("http://"):
                continue
            url = urlsplit(value)
            assert url.hostname in PYTHON_SERVICES, f"{name}.{variable}"
            assert url.port == service_port(images[url.hostname]), variable
    assert environment(services["referral"])["JWKS_URL"].endswith(
        "/authentication/.well-known/jwks.json"
    )


@pytest.mark.parametrize(
    ("name", "variable"), [("auth", "AUTH_DATABASE_URL"), ("referral", "REFERRAL_DATABASE_URL")]
)
def test_each_database_url_matches_what_the_init_script_creates(
    services: dict[str, Any], repo_root: Path, name: str, variable: str
) -> None:
    url = make_url(environment(services[name])[variable])
    postgres_env = environment(services["postgres"])

    assert (url.host, url.port, url.username, url.database) == ("postgres", 5432, name, name)
    assert url.password == postgres_env[f"{name.upper()}_DB_PASSWORD"]
    script = (repo_root / "deploy/postgres/init-databases.sh").read_text()
    assert f'create_service_database {name} "${{{name.upper()}_DB_PASSWORD:?' in script
    redis = urlsplit(environment(services[name])["REDIS_URL"])
    assert (redis.hostname, redis.port) == ("redis", 6379)


def test_postgres_runs_the_init_script(services: dict[str, Any], repo_root: Path) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    script = next(m for m in mounts if m[1].startswith("/docker-entrypoint-initdb.d/"))
    path = repo_root / script[0]
    assert path.is_file()
    assert path.stat().st_mode & 0o111, "the postgres image runs only executable .sh files"
    assert services["redis"]["image"] == "redis:7"
