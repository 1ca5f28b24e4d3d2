from collections.abc import Callable

from fastapi.testclient import TestClient


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    client.post("/authentication/api_number_input/", json={"phone": "9991234567"})
    metrics = client.get("/metrics").text
    assert "auth_otp_sent_total" in metrics and "http_requests_total" in metrics


def test_a_redis_outage_is_not_ready_and_answers_503(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(redis_url="redis://127.0.0.1:1/0")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    response = client.post("/authentication/api_number_input/", json={"phone": "9991234567"})
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response.headers["retry-after"]


def test_openapi_documents_the_public_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/authentication/api_number_input/",
        "/authentication/api_otp_input/",
        "/authentication/api_token_refresh/",
        "/authentication/api_logout/",
        "/authentication/.well-known/jwks.json",
        "/authentication/api_dev_sms/",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_request_id_is_passed_back(client: TestClient) -> None:
    response = client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
