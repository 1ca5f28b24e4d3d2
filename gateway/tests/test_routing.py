"""Which URL goes where: the contract's public URLs reach their service, nothing else does."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}

PUBLIC_API = [
    ("POST", "/authentication/api_number_input/", "auth"),
    ("GET", "/authentication/api_dev_sms/", "auth"),
    ("POST", "/authentication/api_otp_input/", "auth"),
    ("POST", "/authentication/api_token_refresh/", "auth"),
    ("POST", "/authentication/api_logout/", "auth"),
    ("GET", "/authentication/.well-known/jwks.json", "auth"),
    ("GET", "/profile/api_profile/", "profile"),
    ("POST", "/referral_system/api_invite_code_activation/", "referral"),
    ("GET", "/referral_system/api_invited_users/", "referral"),
    ("GET", "/referral_system/api_invited_users.csv", "referral"),
]

# Each service's internal endpoints, and ways of spelling a path that lead to them.
NEVER_ROUTED = [
    "/metrics",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/assets/swagger-ui.css",
    "/internal/referral/profile",
    "/internal/users/me",
    "//metrics",
    "/authentication/../internal/users/me",
    "/authentication/api_number_input/../../metrics",
    "/authentication/api_number_input/%2e%2e/%2e%2e/metrics",
    "/profile/api_profile/%2E%2E/%2E%2E/internal/users/me",
    "/referral_system/api_invited_users/..%2f..%2finternal/referral/profile",
    "/referral_system/api_invited_users.csv/",
    "/referral_system/api_invited_users.CSV",
    "/referral_system/api_invited_users.csv/../../metrics",
    "/referral_system/api_invited_users/.csv",
    "/authentication/api_number_input/%2e%2e%2f%2e%2e%2fhealthz",
    "/authentication/healthz",
    "/authentication/metrics",
    "/profile/metrics",
    "/referral_system/openapi.json",
    "/authentication/",
    "/authentication/api_number_input",
    "/authentication/api_number_input/extra",
    "/AUTHENTICATION/api_number_input/",
    "/profile/api_profile/extra",
    "/referral_system/",
    "/static/",
    "/static/missing.css",
    "/number_input/index.html",
    "/favicon.ico",
    "/.gateway-errors/bad_request",
    "/admin/api",
    "/admin/apix/users/",
    "/admin/index.html",
    "/admin/internal/admin/members",
    "/ADMIN/api/users/",
]


@pytest.mark.parametrize(("method", "path", "service"), PUBLIC_API)
def test_public_api_reaches_its_service_with_query_and_forwarding_headers(
    client: httpx.Client, method: str, path: str, service: str
) -> None:
    response = client.request(
        method,
        f"{path}?phone=9991234567&cursor=a%2Bb%3D",
        json={"phone": "9991234567"} if method == "POST" else None,
        headers={"X-Forwarded-For": "203.0.113.7"},
    )

    assert response.status_code == 200
    seen = response.json()
    assert seen["service"] == service
    assert (seen["method"], seen["path"]) == (method, path)
    assert seen["query"] == "phone=9991234567&cursor=a%2Bb%3D"
    headers = seen["headers"]
    host = f"127.0.0.1:{client.base_url.port}"
    assert headers["host"] == host
    assert headers["x-forwarded-host"] == host
    assert headers["x-forwarded-proto"] == "http"
    # A caller's own claim is dropped: the services see only the peer nginx saw.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    if method == "POST":
        assert seen["body_size"] == len(b'{"phone":"9991234567"}')


def test_every_method_is_left_to_the_service(client: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        seen = client.request(method, "/profile/api_profile/").json()
        assert (seen["service"], seen["method"]) == ("profile", method)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/admin/api/users/?q=%2B7%20999&cursor=a%2Bb%3D"),
        ("GET", "/admin/api/users/42/"),
        ("POST", "/admin/api/users/42/ban/"),
        ("DELETE", "/admin/api/users/42/ban/"),
        ("POST", "/admin/api/phones/%2B79991234567/unlock/"),
        ("GET", "/admin/api/stats/?days=30"),
        ("GET", "/admin/api/audit/?type=ban&user_id=7"),
    ],
)
def test_the_operators_api_reaches_auth_as_the_client_sent_it(
    gateway, method: str, target: str
) -> None:
    """Every URL under /admin/api/ goes to auth with its query, whatever the method."""
    response = gateway.raw(method, target, body=b"{}" if method == "POST" else None)

    assert response.status == 200
    seen = response.json()
    path, _, query = target.partition("?")
    assert (seen["service"], seen["method"]) == ("auth", method)
    assert seen["path"] == unquote(path)
    assert seen["query"] == query


@pytest.mark.parametrize(
    "target",
    [
        "/authentication/x/../api_number_input/?a=1",
        "/authentication//api_number_input/?a=1",
        "/authentication/api_number_input/./?a=1",
        "/authentication/api_%6Eumber_input/?a=1",
    ],
)
def test_equivalent_spellings_are_forwarded_normalised(gateway, target: str) -> None:
    """Spelled with dot segments or escapes, a public URL arrives as the contract names it."""
    response = gateway.raw("GET", target)

    assert response.status == 200
    seen = response.json()
    assert (seen["path"], seen["query"]) == ("/authentication/api_number_input/", "a=1")


@pytest.mark.parametrize("target", NEVER_ROUTED)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_everything_else_is_a_json_404_that_reaches_no_service(
    gateway, method: str, target: str
) -> None:
    gateway.forget_requests()

    response = gateway.raw(method, target, body=b"{}" if method == "POST" else None)

    assert response.status == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND
    assert gateway.requests_seen() == []


@pytest.mark.parametrize("target", ["/../internal/users/me", "/%2e%2e/metrics", "/static/../../x"])
def test_paths_above_the_root_are_a_json_400(gateway, target: str) -> None:
    gateway.forget_requests()

    response = gateway.raw("GET", target)

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}
    assert gateway.requests_seen() == []


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/", "root page"),
        ("/number_input/", "number_input page"),
        ("/otp_input/", "otp_input page"),
        ("/profile/", "profile page"),
        ("/admin/", "admin page"),
    ],
)
def test_pages_are_served_from_the_frontend(client: httpx.Client, path: str, title: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<title>{title}</title>" in response.text


@pytest.mark.parametrize("page", ["/number_input", "/otp_input", "/profile", "/admin"])
def test_a_page_without_its_slash_redirects_to_it(client: httpx.Client, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 301
    assert response.headers["Location"] == f"{page}/"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/app.css", "text/css"), ("/static/app.js", "javascript")],
)
def test_static_assets_are_served_with_their_type(
    client: httpx.Client, path: str, content_type: str
) -> None:
    response = client.get(path, headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200
    assert content_type in response.headers["Content-Type"]
    assert client.get(path).text == response.text
    assert client.head(path).content == b""


def test_services_see_the_address_the_client_connected_from(gateway) -> None:
    with gateway.client(source="127.0.0.5") as client:
        headers = client.get("/profile/api_profile/").json()["headers"]

    assert (headers["x-forwarded-for"], headers["x-real-ip"]) == ("127.0.0.5", "127.0.0.5")
