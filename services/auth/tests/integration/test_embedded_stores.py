"""The single-process mode runs this service on SQLite and the in-process Redis store."""

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def test_the_whole_flow_on_sqlite_and_the_memory_store(
    make_client: Callable[..., TestClient], flow_for: Any, tmp_path: Path
) -> None:
    client = make_client(
        auth_database_url=f"sqlite:///{tmp_path / 'auth.db'}",
        redis_url=f"memory://auth-test-{uuid.uuid4().hex}",
        otp_resend_cooldown_seconds=0,
    )
    flow = flow_for(client)
    first = flow.sign_in()
    again = flow.sign_in()
    assert first["is_new_user"] is True and again["is_new_user"] is False
    assert again["user"] == first["user"]

    flow.request_code()
    wrong = client.post(
        "/authentication/api_otp_input/", json={"otp": flow.wrong(flow.read_code())}
    )
    assert wrong.status_code == 400 and wrong.json()["attempts_left"] == 2

    refreshed = client.post("/authentication/api_token_refresh/")
    assert refreshed.status_code == 200
    assert client.post("/authentication/api_logout/").status_code == 204
    headers = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert client.get("/internal/users/me", headers=headers).status_code == 401
    assert client.get("/readyz").json()["checks"] == {"database": "ok", "redis": "ok"}
