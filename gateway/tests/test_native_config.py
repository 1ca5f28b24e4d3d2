"""One template, two renderers: gateway_config.render natively, the image's envsubst in Docker."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway_config.render import (
    TEMPLATE,
    TEMPLATE_VARIABLES,
    NginxConfigError,
    check_config,
    nginx_binary,
    nginx_command,
    render_native_config,
    render_template,
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


def nginx_variables(text: str) -> list[str]:
    return re.findall(r"\$[a-z_][a-z0-9_]*", text)


def render(tmp_path: Path, **overrides: str) -> Path:
    arguments = {
        "workdir": tmp_path / "nginx",
        "listen_port": 18080,
        "auth": "127.0.0.1:18001",
        "referral": "127.0.0.1:18002",
        "profile": "127.0.0.1:18003",
        "frontend_root": tmp_path,
    }
    return render_native_config(**{**arguments, **overrides})  # type: ignore[arg-type]


def test_rendering_fills_the_placeholders_and_keeps_nginx_variables() -> None:
    template = TEMPLATE.read_text()

    rendered = render_template(template, VALUES)

    assert "${" not in rendered
    assert "server 127.0.0.1:8001;" in rendered
    assert 'root "/srv/frontend";' in rendered
    assert nginx_variables(rendered) == nginx_variables(template)
    assert {"$uri", "$request_id", "$remote_addr", "$http_host"} <= set(nginx_variables(rendered))


def test_rendering_refuses_a_missing_value() -> None:
    values = {k: v for k, v in VALUES.items() if k != "PROFILE_UPSTREAM"}
    with pytest.raises(ValueError, match="PROFILE_UPSTREAM"):
        render_template(TEMPLATE.read_text(), values)


def test_rendering_refuses_a_placeholder_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="NEW_THING"):
        render_template(TEMPLATE.read_text() + "# ${NEW_THING}\n", VALUES)


def test_the_image_and_the_native_renderer_produce_the_same_gateway() -> None:
    """The image runs envsubst with exactly these names; nginx-like variables in its
    environment (lower-case `uri`, `host`) must not leak into the configuration."""
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        pytest.skip("envsubst (gettext-base) is not installed")
    shell_format = " ".join(f"${{{name}}}" for name in sorted(TEMPLATE_VARIABLES))
    hostile = {"uri": "/evil", "host": "evil", "request_id": "evil", "PATH": "/usr/bin:/bin"}

    result = subprocess.run(
        [envsubst, shell_format],
        input=TEMPLATE.read_text(),
        env={**hostile, **VALUES},
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout == render_template(TEMPLATE.read_text(), VALUES)


def test_the_native_config_passes_nginx_t_and_keeps_its_files_in_the_workdir(
    nginx_installed: None, tmp_path: Path
) -> None:
    config = render(tmp_path)
    workdir = tmp_path / "nginx"

    check_config(config, workdir)

    main = config.read_text()
    paths = re.findall(r'"(/[^"]+)"', main)
    assert paths
    assert all(Path(p).is_relative_to(workdir) for p in paths if p != "/etc/nginx/mime.types")
    for name in ("pid", "error_log", "access_log", "client_body_temp_path", "proxy_temp_path"):
        assert re.search(rf"^\s*{name} \"{re.escape(str(workdir))}/", main, re.MULTILINE), name
    assert "listen 127.0.0.1:18080 default_server;" in (workdir / "gateway.conf").read_text()


def test_nginx_t_failures_are_reported_with_nginxs_reason(
    nginx_installed: None, tmp_path: Path
) -> None:
    config = render(tmp_path, auth="127.0.0.1:notaport")

    with pytest.raises(NginxConfigError, match="invalid port"):
        check_config(config, tmp_path / "nginx")


def test_paths_nginx_would_misread_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="safely"):
        render(tmp_path, frontend_root=tmp_path / "a$uri")


def test_the_command_runs_nginx_in_the_foreground(nginx_installed: None, tmp_path: Path) -> None:
    command = nginx_command(tmp_path / "nginx.conf", tmp_path)

    assert command[0] == nginx_binary()
    assert command[-2:] == ["-g", "daemon off;"]
    assert command[command.index("-p") + 1] == str(tmp_path)
    assert command[command.index("-c") + 1] == str(tmp_path / "nginx.conf")


def test_the_images_main_config_is_valid_with_the_rendered_template(
    nginx_installed: None, tmp_path: Path, repo_root: Path
) -> None:
    """gateway/nginx.conf with the image's paths moved into tmp_path (no nginx user here)."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "default.conf").write_text(render_template(TEMPLATE.read_text(), VALUES))
    main = (repo_root / "gateway/nginx.conf").read_text()
    assert "include /etc/nginx/conf.d/*.conf;" in main
    assert re.search(r"^user nginx;$", main, re.MULTILINE)
    main = (
        main.replace("user nginx;", "")
        .replace("/etc/nginx/conf.d/", f"{conf_d}/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
        .replace("/var/run/nginx.pid", f"{tmp_path}/nginx.pid")
    )
    config = tmp_path / "nginx.conf"
    config.write_text(main)

    check_config(config, tmp_path)
