"""The answers nginx makes itself: limits, dead services, wrong methods, all in the error shape."""

from __future__ import annotations

import httpx
import pytest

LOGIN_POSTS = ["/authentication/api_number_input/", "/authentication/api_otp_input/"]
# The gateway's second line of defence: 10 requests/s per client address, bursts of 20.
BURST = 20


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_body_over_the_limit_is_refused_before_any_service(gateway, client: httpx.Client) -> None:
    big = b'{"phone": "' + b"9" * 17_000 + b'"}'

    response = client.post(
        "/authentication/api_number_input/",
        content=big,
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 413, "payload_too_large")
    assert gateway.requests_seen() == []


def test_a_body_under_the_limit_passes(client: httpx.Client) -> None:
    body = b'{"phone": "' + b"9" * 15_000 + b'"}'

    response = client.post("/referral_system/api_invite_code_activation/", content=body)

    assert response.json()["body_size"] == len(body)


@pytest.mark.parametrize(
    ("path", "source"),
    [(LOGIN_POSTS[0], "127.0.0.2"), (LOGIN_POSTS[1], "127.0.0.3")],
)
def test_login_posts_are_rate_limited_per_client(gateway, path: str, source: str) -> None:
    # Each test speaks from its own loopback address, so its bucket is its own.
    with gateway.client(source=source) as client:
        statuses = []
        for _ in range(10 * BURST):
            response = client.post(path, json={"otp": "1234"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                break

        assert_error(response, 429, "too_many_requests")
        assert response.headers.get_list("Retry-After") == ["1"]
        assert response.json()["retry_after"] == 1
        assert statuses.count(200) >= BURST

        # Another client is not affected, and neither are reads from the limited one.
        with gateway.client(source="127.0.0.9") as other:
            assert other.post(path, json={}).status_code == 200
        assert client.get(path).status_code == 200


def test_reads_are_not_rate_limited(gateway) -> None:
    with gateway.client(source="127.0.0.4") as client:
        statuses = {client.get(LOGIN_POSTS[0]).status_code for _ in range(3 * BURST)}

    assert statuses == {200}


@pytest.mark.parametrize(
    "path",
    [
        "/authentication/api_number_input/",
        "/authentication/.well-known/jwks.json",
        "/profile/api_profile/",
        "/referral_system/api_invited_users/",
    ],
)
def test_a_service_that_is_down_is_a_503(gateway_without_services, path: str) -> None:
    with gateway_without_services.client() as client:
        response = client.post(path, json={}) if "api_number" in path else client.get(path)

    assert_error(response, 503, "upstream_unavailable")


def test_pages_are_served_while_the_services_are_down(gateway_without_services) -> None:
    with gateway_without_services.client() as client:
        assert client.get("/number_input/").status_code == 200


@pytest.mark.parametrize(
    ("status", "header", "value"),
    [(429, "Retry-After", "30"), (405, "Allow", "POST"), (503, None, None), (404, None, None)],
)
def test_a_services_own_errors_pass_through_untouched(
    client: httpx.Client, status: int, header: str | None, value: str | None
) -> None:
    response = client.get(f"/profile/api_profile/?status={status}")

    assert response.status_code == status
    assert response.json() == {"detail": "from service", "code": "stub"}
    if header:
        assert response.headers.get_list(header) == [value]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/otp_input/", "/static/app.css"])
def test_pages_answer_other_methods_with_405(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD"


def test_an_oversized_header_is_a_json_431(client: httpx.Client) -> None:
    """Too large is not malformed (often a cookie grown too big): 431, not 400."""
    response = client.get("/number_input/", headers={"X-Padding": "a" * 9000})

    assert_error(response, 431, "request_header_too_large")


def test_an_oversized_uri_is_a_json_414(client: httpx.Client) -> None:
    response = client.get("/" + "a" * 9000)

    assert_error(response, 414, "uri_too_long")
