"""The service as deployed: a uvicorn process, keys fetched from a JWKS URL, real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select

from common.db.urls import sync_url
from referral_service.models import Activation
from testkit.plugin import free_port
from testkit.servers import running_process, uvicorn_command

ACTIVATE = "/referral_system/api_invite_code_activation/"
PROFILE = "/internal/referral/profile"

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.fixture
def base_url(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    # 99 of the 100 are refused: the cap on refusals would answer some of them 429 instead.
    env = {**service_env, "ACTIVATION_FAILURES_PER_USER_PER_HOUR": "1000"}
    command = uvicorn_command("referral_service.main:create_app", port=port)
    url = f"http://127.0.0.1:{port}"
    with running_process(
        command, health_url=f"{url}/healthz", env=env, log_path=tmp_path / "referral.log"
    ):
        yield url


@pytest.fixture
def db(database_url: str, base_url: str) -> Iterator[Engine]:
    """The server's database, for seeding and checking (the server has migrated it)."""
    engine = create_engine(sync_url(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


def test_one_user_firing_100_activations_at_once_wins_exactly_once(
    base_url: str, db: Engine, bearer: Callable[[int], dict[str, str]]
) -> None:
    codes = [
        httpx.get(f"{base_url}{PROFILE}", headers=bearer(user_id)).json()["invite_code"]
        for user_id in range(100, 200)
    ]
    assert httpx.get(f"{base_url}/readyz").json()["status"] == "ok"
    headers = bearer(1)  # verified with the key the process fetched from JWKS_URL
    barrier = threading.Barrier(len(codes))

    def fire(code: str) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            barrier.wait(timeout=30)
            return client.post(ACTIVATE, json={"invite_code": code}, headers=headers)

    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        responses = list(pool.map(fire, codes))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * 99
    won = next(response.json() for response in responses if response.status_code == 200)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "invite_code_already_activated"
            assert response.json()["activated_invite_code"] == won["activated_invite_code"]
    with db.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Activation)) == 1
    me = httpx.get(f"{base_url}{PROFILE}", headers=headers).json()
    assert me["activated_invite_code"] == won["activated_invite_code"]
