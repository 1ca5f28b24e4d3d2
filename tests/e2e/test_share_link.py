"""Share links, their QR code and the referral funnel, from outside, in both run modes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import segno

from tests.e2e.client import activate, profile, sign_in

pytestmark = pytest.mark.e2e

STATS = "/referral_system/api_referral_stats/"
SIGN_IN = "/number_input/"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10, follow_redirects=False) as client:
        yield client


def stats(client: httpx.Client, headers: dict[str, str]) -> dict[str, object]:
    response = client.get(STATS, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def svg_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) of a segno SVG, read back from its path's runs."""
    path = re.search(r'<path[^>]* d="([^"]+)"', svg)
    assert path is not None, svg
    modules = set()
    x = y = 0.0
    for command, dx, dy in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if command == "M":
            x, y = float(dx), float(dy)
        elif command == "m":
            x, y = x + float(dx), y + float(dy)
        else:
            modules |= {(int(y), int(x) + step) for step in range(int(float(dx)))}
            x += int(float(dx))
    return modules


def qr_modules(url: str, border: int = 4) -> set[tuple[int, int]]:
    matrix = segno.make_qr(url, error="m").matrix
    return {
        (row + border, column + border)
        for row, cells in enumerate(matrix)
        for column, dark in enumerate(cells)
        if dark
    }


def test_a_share_link_leads_to_sign_in_and_feeds_the_funnel(
    client: httpx.Client, base_url: str
) -> None:
    inviter = sign_in(client)
    code = profile(client, inviter)["invite_code"]

    before = stats(client, inviter.headers)
    assert before == {
        "invite_code": code,
        "share_url": f"{base_url}/i/{code}",
        "visits": 0,
        "unique_visitors": 0,
        "activations": 0,
        "conversion": None,
    }

    for _ in range(3):  # one visitor, in one window: one visit
        response = client.get(f"/i/{code}", headers={"User-Agent": FIREFOX})
        assert response.status_code == 302
        assert response.headers["location"] == f"{SIGN_IN}?invite={code}"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    page = client.get(f"{SIGN_IN}?invite={code}")
    assert page.status_code == 200

    invitee = sign_in(client)
    assert activate(client, invitee, code).status_code == 200

    after = stats(client, inviter.headers)
    assert (after["visits"], after["unique_visitors"], after["activations"]) == (1, 1, 1)
    assert after["conversion"] == 1.0


def test_the_qr_code_is_the_share_url(client: httpx.Client, base_url: str) -> None:
    inviter = sign_in(client)
    share_url = stats(client, inviter.headers)["share_url"]
    assert isinstance(share_url, str)

    response = client.get(f"{share_url.removeprefix(base_url)}/qr.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert svg_modules(response.text) == qr_modules(share_url)


@pytest.mark.parametrize(
    "path",
    ["/i/zzzzzz", "/i/abc", "/i/", "/i/" + "a" * 3000, "/i/%0D%0A"],
    ids=["unknown", "short", "no-code", "long", "crlf"],
)
def test_an_unknown_or_malformed_code_leads_to_sign_in_without_an_invite(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["location"] == SIGN_IN


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/i", "not_found"),
        ("/i/abc/def/ghi", "not_found"),
        ("/i/zzzzzz/qr.svg", "invite_code_not_found"),
    ],
)
def test_other_paths_under_i_are_not_found(client: httpx.Client, path: str, code: str) -> None:
    response = client.get(path)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == code


def test_a_very_long_share_link_never_fails(client: httpx.Client, mode: str) -> None:
    response = client.get("/i/" + "a" * 20_000)

    if mode == "stack":
        # Past nginx's request-line buffer: the gateway's own answer, in the error shape.
        assert response.status_code == 414
        assert response.json()["code"] == "uri_too_long"
    else:
        assert response.status_code == 302
        assert response.headers["location"] == SIGN_IN


def test_the_funnel_needs_a_session(client: httpx.Client) -> None:
    response = client.get(STATS)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
