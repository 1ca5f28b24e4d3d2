"""State changes: JSON bodies only, and cookie-borne requests from the same site only."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.csrf import state_change_guard
from common.errors import install_error_handlers


def make_app(allowed: list[str] | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/change", dependencies=state_change_guard(lambda _: allowed or []))
    async def change() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_json_is_the_only_body_accepted() -> None:
    client = TestClient(make_app())
    assert client.post("/change", json={}).status_code == 200
    response = client.post("/change", content=b"a=1", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://testserver", 200),
        ("https://evil.example", 403),
        ("http://testserver.evil.example", 403),
        ("https://partner.example", 200),
    ],
)
def test_cookie_requests_must_come_from_the_same_site(origin: str, status: int) -> None:
    client = TestClient(make_app(["https://partner.example"]), cookies={"access_token": "t"})
    response = client.post("/change", json={}, headers={"Origin": origin})
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "csrf_rejected"


def test_a_client_sent_forwarded_host_cannot_make_a_foreign_origin_look_local() -> None:
    client = TestClient(make_app(), cookies={"access_token": "t"})
    response = client.post(
        "/change",
        json={},
        headers={"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 403


def test_bearer_requests_need_no_origin_check() -> None:
    client = TestClient(make_app())
    headers = {"Origin": "https://elsewhere.example", "Authorization": "Bearer t"}
    assert client.post("/change", json={}, headers=headers).status_code == 200
