"""Each service's /docs renders its API in a real browser, with no network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from testkit.plugin import free_port
from testkit.servers import running_process, uvicorn_command

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SERVICES = ("auth", "referral", "profile")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The three services as processes on SQLite and an in-process store."""
    folder = tmp_path_factory.mktemp("docs")
    ports = {name: free_port() for name in SERVICES}
    env = {
        "APP_ENV": "development",
        "REDIS_URL": "memory://docs",
        "AUTH_DATABASE_URL": f"sqlite:///{folder / 'auth.db'}",
        "REFERRAL_DATABASE_URL": f"sqlite:///{folder / 'referral.db'}",
        "AUTH_SERVICE_URL": f"http://127.0.0.1:{ports['auth']}",
        "REFERRAL_SERVICE_URL": f"http://127.0.0.1:{ports['referral']}",
        "DEV_SMS_INBOX": "true",
    }
    with ExitStack() as stack:
        for name, port in ports.items():
            stack.enter_context(
                running_process(
                    uvicorn_command(f"{name}_service.main:create_app", port=port),
                    env=env,
                    health_url=f"http://127.0.0.1:{port}/healthz",
                    log_path=folder / f"{name}.log",
                )
            )
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}


@pytest.mark.parametrize("service", SERVICES)
def test_the_docs_page_lists_every_operation(
    browser: Browser, services: dict[str, str], service: str, artifacts_dir: Path
) -> None:
    base = services[service]
    schema = httpx.get(f"{base}/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    operations = [
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    ]
    context = browser.new_context()
    page = context.new_page()
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.url))
    try:
        page.goto(f"{base}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
        assert "Unable to render this definition" not in page.content()
        shown = {
            (
                page.locator(".opblock-summary-method").nth(i).inner_text().strip(),
                page.locator(".opblock-summary-path").nth(i).inner_text().strip(),
            )
            for i in range(page.locator(".opblock").count())
        }
        shots = artifacts_dir / "screenshots" / "docs"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{service}.png"), full_page=True)
    finally:
        context.close()
    assert {(method, path.replace("\u200b", "")) for method, path in shown} == set(operations)
    assert failures == []  # every asset came from the service itself
