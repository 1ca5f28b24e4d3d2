"""GET /profile/api_profile/ against fake auth and referral apps (httpx.ASGITransport)."""

import logging
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from common.logging import request_id_var

PROFILE_URL = "/profile/api_profile/"
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_profile_joins_auth_and_referral(client: TestClient) -> None:
    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 200
    assert response.json() == {
        "id": 1,
        "phone": "9991234567",
        "invite_code": "5L7opy",
        "activated_invite_code": None,
        "invited_users": [{"id": 2, "phone": "9990000001", "activated_at": "2026-11-27T10:00:00Z"}],
        "invited_count": 1,
        "invited_users_next": None,
    }
    assert response.headers["cache-control"] == "no-store"


def test_activated_code_and_next_page_are_passed_on(client: TestClient, referral) -> None:
    next_page = "/referral_system/api_invited_users/?limit=100&cursor=abc"
    referral.body = {
        **referral.body,
        "activated_invite_code": "Xy12ab",
        "invited_count": 101,
        "invited_users_next": next_page,
    }

    body = client.get(PROFILE_URL, headers=BEARER).json()

    assert body["activated_invite_code"] == "Xy12ab"
    assert body["invited_count"] == 101
    assert body["invited_users_next"] == next_page


def test_bearer_token_and_request_id_go_to_both_upstreams(
    client: TestClient, auth, referral
) -> None:
    response = client.get(PROFILE_URL, headers={**BEARER, "X-Request-ID": "req-42"})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    for upstream in (auth, referral):
        [seen] = upstream.seen
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["x-request-id"] == "req-42"


def test_cookie_token_is_sent_on_as_bearer(client: TestClient, auth, referral) -> None:
    client.cookies.set("access_token", TOKEN)

    response = client.get(PROFILE_URL)

    assert response.status_code == 200
    for upstream in (auth, referral):
        assert upstream.seen[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_generated_request_id_is_forwarded_and_returned(client: TestClient, auth, referral) -> None:
    response = client.get(PROFILE_URL, headers=BEARER)

    request_id = response.headers["x-request-id"]
    assert request_id
    assert auth.seen[0].headers["x-request-id"] == request_id
    assert referral.seen[0].headers["x-request-id"] == request_id


def test_page_size_setting_is_the_referral_limit(
    make_client: Callable[..., TestClient], referral
) -> None:
    client = make_client(invited_users_page_size=7)

    assert client.get(PROFILE_URL, headers=BEARER).status_code == 200
    assert referral.seen[0].query == {"limit": "7"}


def test_no_token_is_401_without_asking_upstreams(client: TestClient, auth, referral) -> None:
    response = client.get(PROFILE_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    assert auth.seen == referral.seen == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": TOKEN},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer    "},
        {"Authorization": "Bearer " + "a" * 10_240},
        {"Authorization": "Bearer two words"},
        {"Authorization": "Bearer \xe9t\xe9".encode("latin-1")},
        {"Authorization": "Bearer tok\x7fen"},
        {"Cookie": "access_token=<script>"},
    ],
    ids=[
        "no-scheme",
        "basic",
        "bearer-only",
        "empty-bearer",
        "blank-bearer",
        "10kB-token",
        "space-in-token",
        "latin-1-token",
        "control-char",
        "cookie-with-markup",
    ],
)
def test_malformed_credentials_are_401_never_500(
    client: TestClient, auth, referral, headers: dict[str, str | bytes]
) -> None:
    response = client.get(PROFILE_URL, headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert auth.seen == referral.seen == []


@pytest.mark.parametrize("rejecting", [["auth"], ["referral"], ["auth", "referral"]])
def test_upstream_401_is_passed_on(
    client: TestClient, auth, referral, rejecting: list[str]
) -> None:
    upstreams = {"auth": auth, "referral": referral}
    for name in rejecting:
        upstreams[name].status = 401
        upstreams[name].body = {
            "detail": "The access token has been revoked.",
            "code": "not_authenticated",
        }

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 401
    assert response.json() == {
        "detail": "The access token has been revoked.",
        "code": "not_authenticated",
    }
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_expired_token_is_reported_as_such(client: TestClient, referral) -> None:
    referral.status = 401
    referral.body = {
        "detail": "The access token has expired.",
        "code": "not_authenticated",
        "expired": True,
    }

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 401
    assert response.json() == referral.body


def test_upstream_401_without_a_json_body_is_still_401(client: TestClient, auth) -> None:
    auth.status, auth.raw = 401, b"Unauthorized"

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_refused_token_wins_over_an_unavailable_upstream(
    client: TestClient, auth, referral
) -> None:
    auth.status, auth.body = 401, {"detail": "The access token has expired."}
    referral.status = 500

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 401
    assert response.json()["detail"] == "The access token has expired."


@pytest.mark.parametrize(
    ("upstream", "status", "body"),
    [
        ("auth", 200, {"id": "1", "phone": "9991234567"}),
        ("auth", 200, {"id": 1}),
        ("auth", 200, [1, "9991234567"]),
        ("auth", 404, {"detail": "Not Found", "code": "not_found"}),
        ("referral", 200, {"user_id": 1}),
        ("referral", 422, {"detail": "limit too large", "code": "validation_error"}),
        (
            "referral",
            200,
            {
                "user_id": 1,
                "invite_code": "5L7opy",
                "activated_invite_code": None,
                "invited_users": [{"id": 2, "phone": "9990000001", "activated_at": "yesterday"}],
                "invited_count": 1,
                "invited_users_next": None,
            },
        ),
    ],
    ids=[
        "auth-id-as-string",
        "auth-missing-phone",
        "auth-array",
        "auth-404",
        "referral-missing-fields",
        "referral-422",
        "referral-bad-timestamp",
    ],
)
def test_unusable_upstream_answer_is_503(
    client: TestClient, auth, referral, upstream: str, status: int, body: object
) -> None:
    fake = {"auth": auth, "referral": referral}[upstream]
    fake.status, fake.body = status, body

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 503
    assert response.json() == {
        "detail": f"The {upstream} service is unavailable; try again shortly.",
        "code": "upstream_unavailable",
    }


def test_upstreams_disagreeing_on_the_user_is_503(client: TestClient, referral) -> None:
    referral.body = {**referral.body, "user_id": 2}

    response = client.get(PROFILE_URL, headers=BEARER)

    assert response.status_code == 503
    assert response.json()["detail"] == "The referral service is unavailable; try again shortly."


def test_one_deadline_bounds_both_calls(
    make_client: Callable[..., TestClient], auth, referral
) -> None:
    client = make_client(upstream_timeout_seconds=0.2)
    auth.delay = referral.delay = 30

    started = time.monotonic()
    response = client.get(PROFILE_URL, headers=BEARER)

    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "The auth and referral services are unavailable; try again shortly."
    )
    assert auth.cancelled and referral.cancelled


def test_a_failed_call_cancels_the_other(client: TestClient, auth, referral) -> None:
    auth.status = 500
    referral.delay = 30

    started = time.monotonic()
    response = client.get(PROFILE_URL, headers=BEARER)

    assert time.monotonic() - started < 3
    assert response.json()["detail"] == "The auth service is unavailable; try again shortly."
    assert referral.cancelled


class _RequestIdCapture(logging.Handler):
    """Records each message with the request id in context when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[logging.LogRecord, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append((record, request_id_var.get()))


@pytest.fixture
def service_log() -> Iterator[_RequestIdCapture]:
    handler = _RequestIdCapture()
    logger = logging.getLogger("profile_service.service")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_unavailable_upstream_is_logged_with_the_request_id(
    client: TestClient, referral, service_log: _RequestIdCapture
) -> None:
    referral.status = 502

    client.get(PROFILE_URL, headers={**BEARER, "X-Request-ID": "req-7"})

    [(record, request_id)] = service_log.entries
    assert record.levelno == logging.WARNING
    assert record.upstreams == ["referral"]
    assert record.reason == "answered HTTP 502"
    assert request_id == "req-7"
    assert TOKEN not in record.getMessage() + str(record.__dict__)


def test_readiness_asks_each_upstream(client: TestClient, referral) -> None:
    assert client.get("/readyz").json() == {
        "status": "ok",
        "checks": {"auth": "ok", "referral": "ok"},
    }

    referral.healthy = False
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"auth": "ok", "referral": "unavailable"}


def test_openapi_documents_the_profile_and_its_errors(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][PROFILE_URL]["get"]

    assert set(operation["responses"]) >= {"200", "401", "503"}
