"""Whatever nginx answers by itself is the contract's JSON error, never one of its HTML pages.

The requests are written to a socket byte for byte: most of them are what an HTTP client
library refuses to send (a broken request line, an unknown Transfer-Encoding, an HTTP/2.0
request line on an HTTP/1 port), which is exactly what reaches a public port all day.
"""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import pytest

from gateway_config.render import TEMPLATE

API = b"/authentication/api_number_input/"
SECURITY_HEADERS = {
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
}

# Statuses for which nginx has a built-in HTML page (ngx_http_error_pages[] in
# src/http/ngx_http_special_response.c): without an error_page, nginx sends that page.
NGINX_ERROR_PAGES = {
    *range(400, 407),
    *range(408, 417),
    421,
    429,
    *range(494, 499),
    *range(500, 506),
    507,
}
# Those the gateway cannot be made to answer with, and why; the test below checks each reason.
NEVER_ANSWERED = {
    401: "auth_basic / auth_request, which the gateway does not use",
    402: "only an explicit return",
    406: "only an explicit return",
    409: "WebDAV (dav_methods), which the gateway does not use",
    410: "only an explicit return",
    411: "WebDAV (dav_methods), which the gateway does not use",
    415: "WebDAV (dav_methods), which the gateway does not use",
    416: "byte ranges, which max_ranges 0 turns off",
    421: "TLS and HTTP/2, which end in front of the gateway",
    495: "TLS client certificates (ssl_verify_client)",
    496: "TLS client certificates (ssl_verify_client)",
    497: "a plain request on a TLS port; the gateway has none",
    498: "nothing in current nginx: a number left in the table",
    507: "WebDAV (dav_methods), which the gateway does not use",
}
# Directives that would make some of them possible.
DIRECTIVES_NOT_USED = re.compile(r"\b(auth_basic|auth_request|dav_methods|ssl\w*|http2)\b")

MALFORMED = [
    pytest.param(
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        400,
        "bad_request",
        id="tls-handshake-on-the-plain-port",
    ),
    pytest.param(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", id="lower-case-method"),
    pytest.param(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", id="space-in-target"),
    pytest.param(
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", id="control-in-target"
    ),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, "bad_request", id="http-1.1-without-host"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request", id="two-hosts"
    ),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad_request", id="host-with-slash"),
    pytest.param(
        b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}",
        400,
        "bad_request",
        id="content-length-not-a-number",
    ),
    pytest.param(
        b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "bad_request",
        id="content-length-and-chunked",
    ),
    pytest.param(
        b"POST " + API + b" HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "bad_request",
        id="chunked-in-http-1.0",
    ),
    pytest.param(
        b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "bad_request",
        id="chunk-size-not-hex",
    ),
    pytest.param(
        b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
        "not_implemented",
        id="unknown-transfer-encoding",
    ),
    pytest.param(
        b"GET /profile/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        "not_implemented",
        id="transfer-encoding-list",
    ),
    pytest.param(
        b"GET /number_input/ HTTP/2.0\r\nHost: x\r\n\r\n",
        505,
        "http_version_not_supported",
        id="http-2.0-request-line",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * 9000 + b"\r\n\r\n",
        431,
        "request_header_too_large",
        id="one-header-line-over-8k",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 7000) for i in range(6))
        + b"\r\n",
        431,
        "request_header_too_large",
        id="headers-over-32k",
    ),
    pytest.param(
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
        "uri_too_long",
        id="target-over-8k",
    ),
    pytest.param(
        b"TRACE /profile/api_profile/ HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
        "method_not_allowed",
        id="trace",
    ),
    pytest.param(
        b"FOO /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
        "method_not_allowed",
        id="unknown-method-on-a-file",
    ),
    pytest.param(
        b'GET /static/app.css HTTP/1.1\r\nHost: x\r\nIf-Match: "other"\r\n\r\n',
        412,
        "precondition_failed",
        id="if-match-another-etag",
    ),
    pytest.param(
        b"GET /profile/ HTTP/1.1\r\nHost: x\r\n"
        b"If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n\r\n",
        412,
        "precondition_failed",
        id="if-unmodified-since-the-past",
    ),
    pytest.param(
        b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 17000\r\n\r\n",
        413,
        "payload_too_large",
        id="declared-body-over-16k",
    ),
    pytest.param(b"GET /healthz HTTP/1.0\r\n\r\n", 404, "not_found", id="http-1.0-internal-path"),
]


def assert_json_error(response: Any, status: int, code: str) -> None:
    assert response.status == status
    assert response.headers.get_all("Content-Type") == ["application/json"]
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert int(response.headers["Content-Length"]) == len(response.content)
    # Each header once: nginx can send a response's headers twice when a filter turns a
    # file it was already sending into an error (its 416 did).
    names = [name.lower() for name in response.headers]
    assert len(names) == len(set(names)), response.headers
    assert set(response.headers) >= SECURITY_HEADERS
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(("request_bytes", "status", "code"), MALFORMED)
def test_a_request_nginx_refuses_gets_a_json_error(
    gateway, request_bytes: bytes, status: int, code: str
) -> None:
    gateway.forget_requests()

    response = gateway.send(request_bytes)

    assert_json_error(response, status, code)
    assert gateway.requests_seen() == []


def test_a_head_request_gets_the_status_and_headers_without_a_body(gateway) -> None:
    response = gateway.send(
        b"HEAD /profile/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    )

    assert response.status == 501
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == b""


def test_an_http_0_9_request_gets_the_json_body(gateway) -> None:
    """HTTP/0.9 has no status line or headers to carry; the body is still the error shape."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"GET /metrics\r\n")
        answer = read_until_closed(sock)

    assert json.loads(answer) == {"detail": "Not found.", "code": "not_found"}


def test_a_range_is_answered_with_the_whole_file_never_416(gateway) -> None:
    for ranges in (b"bytes=0-3", b"bytes=999999-"):
        response = gateway.send(
            b"GET /static/app.css HTTP/1.1\r\nHost: x\r\nRange: " + ranges + b"\r\n\r\n"
        )

        assert response.status == 200
        assert "Accept-Ranges" not in response.headers
        assert "Content-Range" not in response.headers
        assert len(response.content) == int(response.headers["Content-Length"]) > 4


# --- slow clients -------------------------------------------------------------------------------


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"GET /number_input/ HTTP/1.1\r\nHost: x\r\n", id="headers-never-end"),
        pytest.param(
            b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}",
            id="body-never-ends",
        ),
        pytest.param(
            b"POST " + API + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            id="chunk-never-ends",
        ),
    ],
)
def test_a_client_that_stalls_is_disconnected_without_an_html_408(
    impatient_gateway, partial: bytes
) -> None:
    """nginx logs 408 for a client too slow to finish its request, and closes the connection
    without answering; the 408 error_page is there should a version of nginx ever answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", impatient_gateway.port), timeout=10) as sock:
        sock.sendall(partial)
        answer = read_until_closed(sock)

    assert answer == b""
    assert 0.9 < time.monotonic() - started < 5
    log = (impatient_gateway.workdir / "access.log").read_text().splitlines()
    assert any(json.loads(line)["status"] == 408 for line in log)


# --- the configuration --------------------------------------------------------------------------


def error_pages(template: str) -> dict[int, str]:
    """Each status an error_page names, and where it sends it."""
    pages: dict[int, str] = {}
    for line in re.findall(r"^\s*error_page\s+([^;]+);", template, re.MULTILINE):
        *statuses, target = line.split()
        for status in statuses:
            if not status.startswith("="):
                pages[int(status)] = target
    return pages


def test_every_status_nginx_has_an_html_page_for_has_an_error_page() -> None:
    template = TEMPLATE.read_text()
    directives = re.sub(r"#.*", "", template)

    uncovered = NGINX_ERROR_PAGES - set(error_pages(template))

    assert uncovered == set(NEVER_ANSWERED), uncovered ^ set(NEVER_ANSWERED)
    assert not DIRECTIVES_NOT_USED.search(directives)
    assert re.search(r"^\s*max_ranges 0;", directives, re.MULTILINE)
    returned = {int(status) for status in re.findall(r"\breturn (\d{3})\b", directives)}
    assert not returned & set(NEVER_ANSWERED)
    # A bare `return NNN;` goes out through error_page too.
    for status in re.findall(r"\breturn (\d{3});", directives):
        assert int(status) in error_pages(template), status


def test_each_error_body_in_the_template_is_the_error_shape() -> None:
    bodies = re.findall(r"\breturn (\d{3}) '([^']*)';", TEMPLATE.read_text())
    codes: dict[str, int] = {}

    assert len(bodies) >= 14
    for status, text in bodies:
        body = json.loads(text)
        assert {"detail", "code"} <= set(body), text
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", body["code"]), text
        assert codes.setdefault(body["code"], int(status)) == int(status), body["code"]
