"""The run modes find the pages and keep their state where FRONTEND_DIR and VAR_DIR say, by
default in the repository's frontend/ and var/."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runmodes.settings import RunSettings
from runmodes.single import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_by_default_they_are_the_repositorys_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRONTEND_DIR", raising=False)
    monkeypatch.delenv("VAR_DIR", raising=False)

    settings = RunSettings()

    assert settings.frontend_dir == REPO_ROOT / "frontend"
    assert settings.var_dir == REPO_ROOT / "var"


def test_the_environment_moves_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRONTEND_DIR", "pages")
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "state"))

    settings = RunSettings()

    assert settings.frontend_dir == tmp_path / "pages"
    assert settings.var_dir == tmp_path / "state"


def test_the_single_process_serves_its_settings_pages_and_keeps_its_state_there(
    tmp_path: Path,
) -> None:
    pages = tmp_path / "pages"
    (pages / "static").mkdir(parents=True)
    (pages / "index.html").write_text("<!doctype html><title>moved</title>")
    (pages / "static" / "app.css").write_text("body { margin: 0; }")
    settings = RunSettings(frontend_dir=pages, var_dir=tmp_path / "state")

    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        asset = client.get("/static/app.css")

    assert page.status_code == 200 and "moved" in page.text
    assert asset.status_code == 200 and asset.headers["cache-control"] == "no-cache"
    assert {"auth.db", "referral.db", "jwt-ed25519.pem"} <= {
        path.name for path in (tmp_path / "state").iterdir()
    }
