"""GET /profile/api_profile/: the identity from the token, the rest from the stored document.

Referral is a fake app behind httpx.ASGITransport; Redis is the real test database (or the
in-process store without one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.logging import request_id_var
from common.profile_documents import document_key, version_key
from common.redis import redis_from_url
from common.revocation import revoked_session_key

PROFILE_URL = "/profile/api_profile/"
PHONE = "9991234567"

Bearer = Callable[..., dict[str, str]]
Mint = Callable[..., str]


def expected_profile(**changes: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "phone": PHONE,
        "invite_code": "5L7opy",
        "activated_invite_code": None,
        "invited_users": [{"id": 2, "phone": "9990000001", "activated_at": "2026-11-27T10:00:00Z"}],
        "invited_count": 1,
        "invited_users_next": None,
        **changes,
    }


def invalidate(redis_url: str, user_id: int) -> None:
    """What referral does after a change it committed."""
    redis_from_url(redis_url).set(version_key(user_id), f"changed-{time.monotonic()}", ex=60)


def test_the_profile_is_the_token_identity_and_referral_data(
    client: TestClient, bearer: Bearer
) -> None:
    response = client.get(PROFILE_URL, headers=bearer())

    assert response.status_code == 200
    assert response.json() == expected_profile()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"


def test_a_stored_document_serves_without_asking_referral(
    client: TestClient, bearer: Bearer, referral: Any, redis_url: str
) -> None:
    first = client.get(PROFILE_URL, headers=bearer())
    later = [client.get(PROFILE_URL, headers=bearer()) for _ in range(5)]

    assert len(referral.seen) == 1
    assert all(response.json() == first.json() for response in later)
    redis = redis_from_url(redis_url)
    assert 0 < redis.ttl(document_key(1)) <= 60
    assert redis.ttl(version_key(1)) > 60


def test_a_document_made_stale_by_a_change_is_rebuilt(
    client: TestClient, bearer: Bearer, referral: Any, redis_url: str
) -> None:
    client.get(PROFILE_URL, headers=bearer())
    referral.body = {**referral.body, "activated_invite_code": "Xy12ab"}

    invalidate(redis_url, 1)

    assert client.get(PROFILE_URL, headers=bearer()).json()["activated_invite_code"] == "Xy12ab"
    assert len(referral.seen) == 2


def test_a_change_while_the_document_is_built_is_not_overwritten_by_the_old_state(
    client: TestClient, bearer: Bearer, referral: Any, redis_url: str
) -> None:
    """Referral answers with the old state while a change commits and invalidates."""
    old = referral.body
    new = {**old, "invited_count": 2}

    def change_commits_meanwhile() -> None:
        referral.body = new
        referral.on_request = None
        invalidate(redis_url, 1)

    referral.on_request = change_commits_meanwhile
    referral.body = old
    served_during = client.get(PROFILE_URL, headers=bearer()).json()

    # The request that raced the change may show either state, but the stale answer must
    # not have been stored: the next request sees the change.
    assert served_during["invited_count"] in (1, 2)
    assert client.get(PROFILE_URL, headers=bearer()).json()["invited_count"] == 2


def test_a_lost_invalidation_ends_with_the_documents_ttl(
    make_client: Callable[..., TestClient], bearer: Bearer, referral: Any
) -> None:
    client = make_client(profile_cache_ttl_seconds=1)
    client.get(PROFILE_URL, headers=bearer())
    referral.body = {**referral.body, "invited_count": 5}  # changed, but nobody invalidated

    assert client.get(PROFILE_URL, headers=bearer()).json()["invited_count"] == 1
    time.sleep(1.5)
    assert client.get(PROFILE_URL, headers=bearer()).json()["invited_count"] == 5


def test_a_revoked_session_is_refused_even_with_a_stored_document(
    client: TestClient, mint: Mint, redis_url: str
) -> None:
    token, other = mint(session="s1"), mint(session="s2")
    assert client.get(PROFILE_URL, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    redis_from_url(redis_url).set(revoked_session_key("s1"), "1", ex=60)

    refused = client.get(PROFILE_URL, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"
    assert client.get(PROFILE_URL, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_each_user_gets_their_own_document(
    client: TestClient, bearer: Bearer, referral: Any
) -> None:
    client.get(PROFILE_URL, headers=bearer(1))
    referral.body = {**referral.body, "user_id": 2, "invite_code": "Other2"}

    second = client.get(PROFILE_URL, headers=bearer(2, phone="9990000002")).json()

    assert (second["id"], second["phone"], second["invite_code"]) == (2, "9990000002", "Other2")
    assert client.get(PROFILE_URL, headers=bearer(1)).json()["invite_code"] == "5L7opy"


def test_the_bearer_token_and_request_id_go_to_referral(
    client: TestClient, mint: Mint, referral: Any
) -> None:
    token = mint()
    response = client.get(
        PROFILE_URL, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"}
    )

    assert response.status_code == 200 and response.headers["x-request-id"] == "req-42"
    [seen] = referral.seen
    assert seen.headers["authorization"] == f"Bearer {token}"
    assert seen.headers["x-request-id"] == "req-42"


def test_the_access_cookie_works_and_is_sent_on_as_bearer(
    client: TestClient, mint: Mint, referral: Any
) -> None:
    token = mint()
    client.cookies.set("access_token", token)

    assert client.get(PROFILE_URL).status_code == 200
    assert referral.seen[0].headers["authorization"] == f"Bearer {token}"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer a b"},
        {"Authorization": "Bearer x.y.z"},
        {"Authorization": "Bearer " + "a" * 5000},
        {"Authorization": "Bearer caf\u00e9".encode("latin-1")},
        {"Cookie": "access_token=x.y.z"},
    ],
)
def test_no_valid_token_is_401_without_asking_referral(
    client: TestClient, referral: Any, headers: dict[str, Any]
) -> None:
    response = client.get(PROFILE_URL, headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    assert referral.seen == []


def test_an_expired_token_is_reported_as_such(client: TestClient, bearer: Bearer) -> None:
    response = client.get(PROFILE_URL, headers=bearer(ttl=-60))

    assert response.status_code == 401
    assert response.json()["expired"] is True


def test_referrals_401_is_passed_on(client: TestClient, bearer: Bearer, referral: Any) -> None:
    referral.status = 401
    referral.body = {"detail": "The session has ended.", "code": "not_authenticated"}

    response = client.get(PROFILE_URL, headers=bearer())

    assert response.status_code == 401
    assert response.json() == {"detail": "The session has ended.", "code": "not_authenticated"}


@pytest.mark.parametrize(
    ("status", "raw", "body"),
    [
        (200, b"not json", None),
        (200, None, {"user_id": 1}),
        (200, None, {"user_id": "1", "invite_code": 5}),
        (500, None, {"detail": "boom"}),
        (502, b"<html>bad gateway</html>", None),
        (401, b"not json", None),
    ],
)
def test_an_unusable_referral_answer_is_503_or_401(
    client: TestClient, bearer: Bearer, referral: Any, status: int, raw: bytes | None, body: Any
) -> None:
    referral.status, referral.raw, referral.body = status, raw, body

    response = client.get(PROFILE_URL, headers=bearer())

    expected = 401 if status == 401 else 503
    assert response.status_code == expected
    if expected == 503:
        assert response.json() == {
            "detail": "The referral service is unavailable; try again shortly.",
            "code": "upstream_unavailable",
        }


def test_a_document_of_another_user_is_503(
    client: TestClient, bearer: Bearer, referral: Any
) -> None:
    referral.body = {**referral.body, "user_id": 2}

    assert client.get(PROFILE_URL, headers=bearer(1)).status_code == 503


def test_a_late_referral_is_503_at_the_deadline(
    make_client: Callable[..., TestClient], bearer: Bearer, referral: Any
) -> None:
    client = make_client(upstream_timeout_seconds=0.5)
    referral.delay = 5

    started = time.monotonic()
    response = client.get(PROFILE_URL, headers=bearer())

    assert time.monotonic() - started < 2
    assert response.status_code == 503 and response.json()["code"] == "upstream_unavailable"


def test_concurrent_misses_of_one_session_share_one_rebuild(
    client: TestClient, mint: Mint, referral: Any
) -> None:
    referral.delay = 0.3
    headers = {"Authorization": f"Bearer {mint()}"}

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: client.get(PROFILE_URL, headers=headers), range(8)))

    assert [response.status_code for response in responses] == [200] * 8
    assert len(referral.seen) == 1


def test_redis_down_is_503_and_not_ready(
    make_client: Callable[..., TestClient], bearer: Bearer
) -> None:
    client = make_client(redis_url="redis://127.0.0.1:1/0")

    response = client.get(PROFILE_URL, headers=bearer())
    ready = client.get("/readyz")

    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unavailable"


def test_readiness_asks_redis_and_referral(client: TestClient, referral: Any) -> None:
    assert client.get("/readyz").json() == {
        "status": "ok",
        "checks": {"redis": "ok", "referral": "ok"},
    }

    referral.healthy = False
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"redis": "ok", "referral": "unavailable"}


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


def test_an_unavailable_referral_is_logged_with_the_request_id(
    client: TestClient, mint: Mint, referral: Any, service_log: _RequestIdCapture
) -> None:
    referral.status = 502
    token = mint()

    client.get(PROFILE_URL, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-7"})

    [(record, request_id)] = service_log.entries
    assert record.levelno == logging.WARNING
    assert record.reason == "/internal/referral/profile answered HTTP 502"  # type: ignore[attr-defined]
    assert request_id == "req-7"
    assert token not in record.getMessage() + str(record.__dict__)


def test_openapi_documents_the_profile_and_its_errors(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][PROFILE_URL]["get"]

    assert set(operation["responses"]) >= {"200", "401", "503"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Profile"}
