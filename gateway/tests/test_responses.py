"""What every answer carries: security headers, the request id, compression, cache rules."""

from __future__ import annotations

import gzip
import json
import re

import httpx
import pytest

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/profile/", 200),
        ("GET", "/static/app.css", 200),
        ("GET", "/profile/api_profile/", 200),
        ("POST", "/authentication/api_number_input/", 200),
        ("GET", "/metrics", 404),
        ("POST", "/number_input/", 405),
        ("GET", "/profile", 301),
    ],
)
def test_every_answer_carries_the_security_headers(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)

    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version


def test_a_request_id_is_made_passed_on_and_returned(client: httpx.Client) -> None:
    response = client.get("/profile/api_profile/")

    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.match(request_id)
    assert response.json()["headers"]["x-request-id"] == request_id
    assert response.headers.get_list("X-Request-ID") == [request_id]
    assert client.get("/profile/api_profile/").headers["X-Request-ID"] != request_id


def test_a_well_formed_request_id_is_kept(client: httpx.Client) -> None:
    response = client.get("/profile/api_profile/", headers={"X-Request-ID": "client-42:a.b_c"})

    assert response.json()["headers"]["x-request-id"] == "client-42:a.b_c"
    assert response.headers.get_list("X-Request-ID") == ["client-42:a.b_c"]


@pytest.mark.parametrize(
    "incoming", [b"has space", b"<script>", b"x" * 129, "ünïcode".encode(), b"a/b", b""]
)
def test_a_malformed_request_id_is_replaced(client: httpx.Client, incoming: bytes) -> None:
    response = client.get("/profile/api_profile/", headers={"X-Request-ID": incoming})

    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.match(request_id)
    assert response.json()["headers"]["x-request-id"] == request_id


@pytest.mark.parametrize("path", ["/number_input/", "/metrics"])
def test_pages_and_errors_get_a_request_id_too(client: httpx.Client, path: str) -> None:
    assert GENERATED_ID.match(client.get(path).headers["X-Request-ID"])


def test_the_access_log_is_json_with_the_request_id(gateway, client: httpx.Client) -> None:
    client.get("/otp_input/", headers={"X-Request-ID": "log-check-1", "User-Agent": 'a"b\\c'})

    lines = (gateway.workdir / "access.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    entry = next(e for e in entries if e["request_id"] == "log-check-1")
    assert entry["method"] == "GET"
    assert entry["path"] == "/otp_input/index.html"
    assert entry["status"] == 200
    assert entry["user_agent"] == 'a"b\\c'


def test_json_from_a_service_is_compressed(client: httpx.Client) -> None:
    response = client.get("/profile/api_profile/?pad=4000", headers={"Accept-Encoding": "gzip"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert len(response.json()["pad"]) == 4000


@pytest.mark.parametrize("path", ["/static/app.css", "/static/app.js"])
def test_assets_are_compressed(client: httpx.Client, path: str) -> None:
    with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())

    assert response.headers["Content-Encoding"] == "gzip"
    assert len(raw) < len(gzip.decompress(raw))


def test_nothing_is_compressed_for_a_client_that_did_not_ask(client: httpx.Client) -> None:
    response = client.get("/static/app.css", headers={"Accept-Encoding": "identity"})

    assert "Content-Encoding" not in response.headers


@pytest.mark.parametrize("path", ["/", "/number_input/", "/static/app.css"])
def test_pages_and_assets_are_revalidated_by_etag(client: httpx.Client, path: str) -> None:
    first = client.get(path)
    assert first.headers["Cache-Control"] == "no-cache"

    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304


def test_a_services_own_cache_rules_are_left_alone(client: httpx.Client) -> None:
    assert "Cache-Control" not in client.get("/profile/api_profile/").headers


def test_connections_to_the_services_are_kept_alive(client: httpx.Client) -> None:
    answers = [client.get("/authentication/.well-known/jwks.json").json() for _ in range(5)]

    assert {answer["http_version"] for answer in answers} == {"1.1"}
    assert all("connection" not in answer["headers"] for answer in answers)
    # The same upstream connection (same client port) serves consecutive requests.
    assert len({answer["client_port"] for answer in answers}) < len(answers)
