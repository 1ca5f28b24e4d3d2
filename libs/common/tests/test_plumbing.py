import logging
import sys
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from common.app import MAX_BODY_BYTES, create_service_app
from common.logging import request_id_var
from common.redis import async_redis_from_url, redis_from_url
from common.settings import DEV_SECRET_PREFIX, ServiceSettings

JSON = {"Content-Type": "application/json"}


class SecretSettings(ServiceSettings):
    signing_secret: SecretStr = SecretStr(f"{DEV_SECRET_PREFIX}change-me")

    def secret_fields(self) -> dict[str, object]:
        return {"signing_secret": self.signing_secret}


def test_production_refuses_a_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValidationError, match="SIGNING_SECRET"):
        SecretSettings()
    monkeypatch.setenv("SIGNING_SECRET", "a-real-secret-of-at-least-32-bytes")
    assert SecretSettings().is_production


def test_development_accepts_the_default_secret() -> None:
    assert not SecretSettings(app_env="development").is_production


def test_memory_stores_with_one_name_share_keys() -> None:
    name = uuid.uuid4().hex
    redis_from_url(f"memory://{name}").set("k", "v")
    assert redis_from_url(f"memory://{name}").get("k") == "v"
    assert redis_from_url(f"memory://{uuid.uuid4().hex}").get("k") is None


def test_a_memory_store_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fakeredis", None)  # what `import fakeredis` sees uninstalled
    for make_client in (redis_from_url, async_redis_from_url):
        with pytest.raises(RuntimeError, match=r"common\[memory\]"):
            make_client(f"memory://{uuid.uuid4().hex}")
    # A service on a Redis server never imports it.
    redis_from_url("redis://127.0.0.1:6379/0").close()


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


def test_an_unhandled_error_is_a_500_in_the_contracts_shape_logged_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    caplog.set_level(logging.INFO)
    captured = _WithRequestId()
    logging.getLogger().addHandler(captured)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/broken", headers={"X-Request-ID": "req-500"})
    finally:
        logging.getLogger().removeHandler(captured)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "internal_error"}
    errors = [(record, rid) for record, rid in captured.entries if record.levelno >= logging.ERROR]
    assert errors, "the error was not logged"
    assert all(request_id == "req-500" for _, request_id in errors)
    access = [(record, rid) for record, rid in captured.entries if record.name == "access"]
    assert [request_id for _, request_id in access] == ["req-500"]
    assert access[0][0].getMessage().startswith("GET /broken 500 ")


class _WithRequestId(logging.Handler):
    """Every record, with the request id in context when it was logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.entries: list[tuple[logging.LogRecord, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append((record, request_id_var.get()))


def test_a_body_over_the_limit_is_413_before_it_is_read() -> None:
    app = make_app()

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    client = TestClient(app)
    assert client.post("/echo", json={"a": "b"}).status_code == 200
    response = client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1), headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies as the body streams
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    streamed = client.post("/echo", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "payload_too_large"
