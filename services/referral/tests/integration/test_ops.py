"""Health, readiness, metrics, docs, request ids, and 503 (not 500) when a store is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from common.tokens import StaticKeySource
from referral_service.main import create_app
from testkit.plugin import POSTGRES_URL, free_port

ACTIVATE = "/referral_system/api_invite_code_activation/"
INVITED = "/referral_system/api_invited_users/"
CSV = "/referral_system/api_invited_users.csv"
PROFILE = "/internal/referral/profile"

Bearer = Callable[[int], dict[str, str]]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_metrics_count_requests_by_route(client: TestClient, bearer: Bearer) -> None:
    client.get(INVITED, headers=bearer(1))

    metrics = client.get("/metrics").text

    assert 'route="/referral_system/api_invited_users/"' in metrics
    assert "http_request_duration_seconds" in metrics


def test_openapi_documents_the_endpoints_and_docs_work_offline(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    activation = schema["paths"][ACTIVATE]["post"]

    assert {ACTIVATE, INVITED, PROFILE} <= set(schema["paths"])
    assert {"200", "401", "404", "409", "422"} <= set(activation["responses"])
    body = schema["components"]["schemas"]["ActivationRequest"]["properties"]["invite_code"]
    assert body["pattern"] == "^[A-Za-z0-9]{6}$"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_the_request_id_is_passed_on(client: TestClient, bearer: Bearer) -> None:
    response = client.get(PROFILE, headers={**bearer(1), "X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"
    assert len(client.get(PROFILE, headers=bearer(1)).headers["x-request-id"]) == 32


def test_redis_down_means_not_ready_and_503(
    make_settings: Callable[..., Any], jwks: dict[str, Any], bearer: Bearer
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as client:
        ready = client.get("/readyz")
        response = client.get(PROFILE, headers=bearer(1))

    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_database_gone_means_not_ready_and_503(
    require_postgres: None, client: TestClient, database_url: str, bearer: Bearer
) -> None:
    assert client.get(PROFILE, headers=bearer(1)).status_code == 200
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        name = make_url(database_url).database
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()

    ready = client.get("/readyz")
    response = client.get(PROFILE, headers=bearer(1))
    # The export reads its first rows before it answers: an error, not a broken download.
    export = client.get(CSV, headers=bearer(1))

    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"
    for answer in (response, export):
        assert answer.status_code == 503
        assert answer.json()["code"] == "service_unavailable"
