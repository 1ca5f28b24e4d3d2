import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from common.app import create_service_app
from common.redis import redis_from_url
from common.settings import DEV_SECRET_PREFIX, ServiceSettings


class SecretSettings(ServiceSettings):
    signing_secret: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}change-me")

    def secret_fields(self) -> dict[str, object]:
        return {"signing_secret": self.signing_secret}


def test_production_refuses_a_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValidationError, match="SIGNING_SECRET"):
        SecretSettings()
    monkeypatch.setenv("SIGNING_SECRET", "a-real-secret")
    assert SecretSettings().is_production


def test_development_accepts_the_default_secret() -> None:
    assert not SecretSettings(app_env="development").is_production


def test_memory_stores_with_one_name_share_keys() -> None:
    name = uuid.uuid4().hex
    redis_from_url(f"memory://{name}").set("k", "v")
    assert redis_from_url(f"memory://{name}").get("k") == "v"
    assert redis_from_url(f"memory://{uuid.uuid4().hex}").get("k") is None


def make_app(ready: bool = True) -> FastAPI:
    def check() -> None:
        if not ready:
            raise ConnectionError("down")

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield

    app = create_service_app(
        service="test", title="Test", lifespan=lifespan, readiness=lambda _: {"db": check}
    )

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def test_request_id_is_generated_or_passed_on() -> None:
    client = TestClient(make_app())
    generated = client.get("/hello").headers["x-request-id"]
    assert len(generated) == 32
    assert (
        client.get("/hello", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    # An id that could forge log lines is replaced, not echoed.
    forged = client.get("/hello", headers={"X-Request-ID": 'a b"}'}).headers["x-request-id"]
    assert forged != 'a b"}'


def test_ops_endpoints() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        client.get("/hello")
        metrics = client.get("/metrics").text
        assert (
            'http_requests_total{method="GET",route="/hello",service="test",status="200"}'
            in metrics
        )
        assert client.get("/docs").status_code == 200
        assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    with TestClient(make_app(ready=False)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"db": "unavailable"}
