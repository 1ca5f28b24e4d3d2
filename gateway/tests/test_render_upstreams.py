"""An `*_UPSTREAM` value may list several servers: one upstream, nginx balancing over them.

Natively (the two-replica test, tests/replicas/) each service runs as several processes behind
one nginx; the Docker image's envsubst path keeps one host:port per upstream.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from gateway.tests.conftest import EchoService, running_gateway, serving
from gateway_config.render import (
    TEMPLATE,
    check_config,
    render_native_config,
    render_template,
    upstream_servers,
)

VALUES = {
    "AUTH_UPSTREAM": "127.0.0.1:8001",
    "REFERRAL_UPSTREAM": "127.0.0.1:8002",
    "PROFILE_UPSTREAM": "127.0.0.1:8003",
    "FRONTEND_ROOT": "/srv/frontend",
    "GATEWAY_LISTEN": "8080",
    "GATEWAY_LOGIN_RATE": "10r/s",
    "GATEWAY_LOGIN_BURST": "20",
}


def upstream_block(rendered: str, name: str) -> str:
    match = re.search(rf"^upstream {name} \{{\n(.*?)^\}}", rendered, re.MULTILINE | re.DOTALL)
    assert match, f"no upstream {name} in the rendered gateway"
    return match.group(1)


def test_a_list_renders_one_server_line_each_in_the_same_upstream() -> None:
    values = {**VALUES, "AUTH_UPSTREAM": "127.0.0.1:8001, 127.0.0.1:9001,auth-2.internal:8001"}

    rendered = render_template(TEMPLATE.read_text(), values)

    auth = upstream_block(rendered, "auth_service")
    assert re.findall(r"^    server (\S+);$", auth, re.MULTILINE) == [
        "127.0.0.1:8001",
        "127.0.0.1:9001",
        "auth-2.internal:8001",
    ]
    # The upstream's other directives are still there, once.
    assert auth.count("keepalive 32;") == 1
    assert re.findall(r"server (\S+);", upstream_block(rendered, "referral_service")) == [
        "127.0.0.1:8002"
    ]


def test_a_single_value_renders_exactly_as_before() -> None:
    """What envsubst makes of one host:port (the image's path) is unchanged."""
    template = TEMPLATE.read_text()
    expected = template
    for name, value in VALUES.items():
        expected = expected.replace(f"${{{name}}}", value)

    assert render_template(template, VALUES) == expected


@pytest.mark.parametrize(
    "value",
    ["", "127.0.0.1:8001,", "127.0.0.1:8001;, evil", "a:1 b:2", "a:1}", "a:$host", "a:1#x"],
)
def test_values_that_would_change_the_configuration_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a host:port"):
        render_template(TEMPLATE.read_text(), {**VALUES, "PROFILE_UPSTREAM": value})


def test_servers_are_split_and_trimmed() -> None:
    assert upstream_servers("a:1") == ["a:1"]
    assert upstream_servers(" a:1 ,[::1]:2") == ["a:1", "[::1]:2"]


def test_a_template_without_the_server_line_is_refused() -> None:
    template = TEMPLATE.read_text().replace(
        "server ${AUTH_UPSTREAM};", "server ${AUTH_UPSTREAM} max_fails=0;"
    )
    with pytest.raises(ValueError, match=r"server \$\{AUTH_UPSTREAM\};"):
        render_template(template, VALUES)


def test_the_native_config_with_lists_passes_nginx_t(nginx_installed: None, tmp_path: Path) -> None:
    config = render_native_config(
        workdir=tmp_path / "nginx",
        listen_port=18080,
        auth=["127.0.0.1:18001", "127.0.0.1:18101"],
        referral="127.0.0.1:18002,127.0.0.1:18102",
        profile="127.0.0.1:18003",
        frontend_root=tmp_path,
    )

    check_config(config, tmp_path / "nginx")
    gateway = (tmp_path / "nginx" / "gateway.conf").read_text()
    assert "server 127.0.0.1:18101;" in gateway and "server 127.0.0.1:18102;" in gateway


def test_nginx_spreads_requests_over_the_listed_servers_and_skips_a_stopped_one(
    nginx_installed: None, tmp_path: Path
) -> None:
    frontend = tmp_path / "frontend"
    (frontend / "number_input").mkdir(parents=True)
    (frontend / "number_input" / "index.html").write_text("<!doctype html><title>x</title>")
    with ExitStack() as stack:
        first = stack.enter_context(serving(EchoService("auth-1")))
        second_stack = stack.enter_context(ExitStack())
        second = second_stack.enter_context(serving(EchoService("auth-2")))
        others = {n: stack.enter_context(serving(EchoService(n))) for n in ("referral", "profile")}
        gateway = stack.enter_context(
            running_gateway(
                tmp_path / "nginx",
                frontend,
                {"auth-1": first, "auth-2": second, **others},
                {
                    "auth": f"{first.address},{second.address}",
                    "referral": others["referral"].address,
                    "profile": others["profile"].address,
                },
            )
        )
        with gateway.client() as client:
            answered = Counter(
                client.get("/authentication/.well-known/jwks.json").json()["service"]
                for _ in range(20)
            )
            # Round robin: each server gets about half (nginx's workers balance separately).
            assert set(answered) == {"auth-1", "auth-2"} and min(answered.values()) >= 5
            before = first.seen.count("/authentication/.well-known/jwks.json")

            second_stack.close()  # auth-2 stops; nginx passes its requests on to auth-1
            statuses = [
                client.get("/authentication/.well-known/jwks.json").status_code for _ in range(10)
            ]
            assert statuses == [200] * 10
            assert first.seen.count("/authentication/.well-known/jwks.json") == before + 10
