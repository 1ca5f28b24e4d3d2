"""The nginx template spells out the gateway's rules table, no more and no less: the single
process routes by the table, so the two run modes answer the same URLs with the same headers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gateway_config.render import TEMPLATE
from gateway_config.rules import (
    API_ROUTES,
    MAX_BODY_BYTES,
    PAGE_CACHE_CONTROL,
    PAGES,
    PREFIX_ROUTES,
    SECURITY_HEADERS,
    STATIC_PREFIX,
    page_redirects,
)

LOGIN_LIMIT = "limit_req zone=gateway_login burst=${GATEWAY_LOGIN_BURST} nodelay;"
# Where nginx sends the errors it answers itself: the gateway's own, not public URLs.
ERROR_LOCATIONS = re.compile(r"^(@|= /\.gateway-errors/)")


def template_text() -> str:
    """The template without its comment lines (every comment in it stands on a line of its own)."""
    lines = TEMPLATE.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def blocks(keyword: str) -> dict[str, str]:
    """Each `keyword ARGUMENTS { BODY }` block of the template: ARGUMENTS -> BODY, white space
    folded; a body may hold blocks of its own (`types {}`)."""
    text = template_text()
    found = {}
    for match in re.finditer(rf"^\s*{keyword}\s+([^{{;]+?)\s*\{{", text, re.MULTILINE):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found[match.group(1)] = " ".join(text[match.end() : end - 1].split())
    return found


def public_locations() -> dict[str, str]:
    return {
        where: body
        for where, body in blocks("location").items()
        if not ERROR_LOCATIONS.match(where)
    }


def locations_from_the_table() -> dict[str, str]:
    expected = {}
    for route in API_ROUTES:
        limit = f"{LOGIN_LIMIT} " if route.login_limited else ""
        proxy = f"proxy_pass http://{route.service}_service$uri$is_args$args;"
        expected[f"= {route.path}"] = limit + proxy
        if route.path.endswith("/"):
            # Else nginx would redirect the URL without its slash to the API URL.
            expected[f"= {route.path.rstrip('/')}"] = "return 404;"
    for prefix_route in PREFIX_ROUTES:
        # No URI on proxy_pass: the URL goes on as the client sent it (never a decoded $uri).
        expected[prefix_route.prefix] = f"proxy_pass http://{prefix_route.service}_service;"
        # Else nginx would redirect the prefix without its slash to the prefix.
        expected[f"= {prefix_route.prefix.rstrip('/')}"] = "return 404;"
    for path, file in PAGES.items():
        expected[f"= {path}"] = f"try_files /{file} =404;"
    for path, page in page_redirects().items():
        expected[f"= {path}"] = f"return 301 {page};"
    expected[STATIC_PREFIX] = "try_files $uri =404;"
    expected["/"] = "return 404;"
    return expected


def add_headers() -> list[tuple[str, str, bool]]:
    """Each add_header of the template: name, value, and whether it is `always` added."""
    pattern = r"^\s*add_header\s+(\S+)\s+(\"[^\"]*\"|\S+)(\s+always)?;"
    return [
        (name, value, bool(always))
        for name, value, always in re.findall(pattern, template_text(), re.MULTILINE)
    ]


def test_the_templates_locations_are_the_tables_routes() -> None:
    assert public_locations() == locations_from_the_table()


def test_the_template_adds_the_tables_security_headers_to_every_answer() -> None:
    fixed = {name: value.strip('"') for name, value, _ in add_headers() if value.startswith('"')}
    assert fixed == SECURITY_HEADERS
    assert all(always for name, _, always in add_headers() if name in SECURITY_HEADERS)


def test_no_location_adds_headers_of_its_own() -> None:
    # One add_header in a location would silently drop every header of the server block there.
    assert [where for where, body in blocks("location").items() if "add_header" in body] == []


def test_pages_and_assets_are_revalidated_as_the_table_says() -> None:
    cache_map = blocks("map")["$uri $gateway_cache_control"]
    entries = dict(re.findall(r"(\S+)\s+(\S+);", cache_map))
    assert entries.pop("default") == '""'
    assert f'"~^{STATIC_PREFIX}"' in entries
    assert set(entries.values()) == {f'"{PAGE_CACHE_CONTROL}"'}


def test_the_body_limit_is_the_tables() -> None:
    text = template_text()
    for directive in ("client_max_body_size", "client_body_buffer_size"):
        size = re.search(rf"^\s*{directive}\s+(\d+)k;", text, re.MULTILINE)
        assert size is not None, directive
        assert int(size.group(1)) * 1024 == MAX_BODY_BYTES, directive


def test_the_table_has_something_to_check() -> None:
    assert {route.service for route in API_ROUTES} == {"auth", "referral", "profile"}
    assert len(public_locations()) > len(API_ROUTES) + len(PAGES) + len(PREFIX_ROUTES)
    assert PREFIX_ROUTES


def test_prefixes_end_with_a_slash_and_shadow_no_exact_url() -> None:
    exact = [route.path for route in API_ROUTES] + list(PAGES) + list(page_redirects())
    for route in PREFIX_ROUTES:
        assert route.prefix.startswith("/") and route.prefix.endswith("/"), route.prefix
        assert route.prefix != STATIC_PREFIX
        assert not [path for path in exact if path.startswith(route.prefix)], route.prefix


def broken(template: str, old: str, new: str) -> str:
    assert template.count(old) == 1, old
    return template.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # The share links' prefix route dropped, sent to the wrong service, or sent decoded.
        ("    location /i/ {\n        proxy_pass http://referral_service;\n    }\n", ""),
        ("proxy_pass http://referral_service;\n", "proxy_pass http://profile_service;\n"),
        ("proxy_pass http://referral_service;\n", "proxy_pass http://referral_service$uri;\n"),
        ("location /i/ {", "location = /i/ {"),
        ("    location = /i { return 404; }\n", ""),
        # An exact route dropped.
        ("    location = /referral_system/api_invited_users/ {", "    location = /x/ {"),
    ],
)
def test_a_template_that_strays_from_the_table_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, old: str, new: str
) -> None:
    template = tmp_path / "default.conf.template"
    template.write_text(broken(TEMPLATE.read_text(), old, new))
    monkeypatch.setattr(sys.modules[__name__], "TEMPLATE", template)

    assert public_locations() != locations_from_the_table()
