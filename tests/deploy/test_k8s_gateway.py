"""The gateway pod's nginx configuration, as each overlay mounts it, passes `nginx -t` with the
template rendered from the pod's own variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway_config.render import TEMPLATE, check_config, nginx_binary, render_template
from tests.deploy.conftest import config_map, named


def gateway_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The template's values as the pod gets them (ConfigMap references resolved)."""
    [container] = named(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"]
    config = config_map(objects, "platform-config")["data"]
    values = {}
    for variable in container["env"]:
        if "value" in variable:
            values[variable["name"]] = variable["value"]
        else:
            values[variable["name"]] = config[variable["valueFrom"]["configMapKeyRef"]["key"]]
    return values


def test_the_pods_nginx_config_passes_nginx_t(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    try:
        nginx_binary()
    except FileNotFoundError:
        pytest.skip("nginx is not installed")
    values = gateway_env(objects)
    # nginx -t resolves upstream names: the Services' names exist only in the cluster.
    for name in ("AUTH_UPSTREAM", "REFERRAL_UPSTREAM", "PROFILE_UPSTREAM"):
        values[name] = "127.0.0.1:" + values[name].rsplit(":", 1)[1]
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    values["FRONTEND_ROOT"] = str(frontend)
    for folder in ("conf.d", "real-ip"):
        (tmp_path / folder).mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(render_template(TEMPLATE.read_text(), values))
    real_ip = config_map(objects, "gateway-real-ip")["data"]["real-ip.conf"]
    (tmp_path / "real-ip" / "real-ip.conf").write_text(real_ip)
    main = config_map(objects, "gateway-nginx")["data"]["nginx.conf"]
    for path in ("/etc/nginx/conf.d/", "/etc/nginx/real-ip/"):
        assert f"include {path}*.conf;" in main
    main = (
        main.replace("/etc/nginx/conf.d/", f"{tmp_path}/conf.d/")
        .replace("/etc/nginx/real-ip/", f"{tmp_path}/real-ip/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
        .replace("/tmp/nginx.pid", f"{tmp_path}/nginx.pid")
    )
    config = tmp_path / "nginx.conf"
    config.write_text(main)

    check_config(config, tmp_path)
