"""The single-process mode runs this service on SQLite and the in-process Redis store."""

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from fastapi.testclient import TestClient

from common.redis import redis_from_url
from common.revocation import revoked_session_key


def test_the_whole_flow_on_sqlite_and_the_memory_store(
    make_client: Callable[..., TestClient], flow_for: Any, tmp_path: Path
) -> None:
    store = f"memory://auth-test-{uuid.uuid4().hex}"
    client = make_client(
        auth_database_url=f"sqlite:///{tmp_path / 'auth.db'}",
        redis_url=store,
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
    session = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert redis_from_url(store).exists(revoked_session_key(session["sid"]))
    assert client.get("/readyz").json()["checks"] == {"database": "ok", "redis": "ok"}
