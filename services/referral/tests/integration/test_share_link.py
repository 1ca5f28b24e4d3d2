"""The share link `/i/{code}`, its QR code and the funnel it feeds, on both databases."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import segno
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from common.tokens import StaticKeySource
from referral_service import share
from referral_service.config import ReferralSettings
from referral_service.deps import ReferralState
from referral_service.main import create_app
from referral_service.models import InviteFunnel, InviteVisit, InviteVisitor

STATS = "/referral_system/api_referral_stats/"
SIGN_IN = "/number_input/"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
LINK_PREVIEW = "TelegramBot (like TwitterBot)"
# The test client's peer: the trusted proxy, with no X-Forwarded-For the client itself.
PEER = "127.0.0.1"
KEY = "visitor-hash-key-for-the-tests-0000000000"

Bearer = Callable[[int], dict[str, str]]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    return make_settings(visitor_hash_key=KEY, trusted_proxies="127.0.0.1")


def ip_hash(client: str) -> bytes:
    return hmac.new(KEY.encode(), client.encode(), hashlib.sha256).digest()[:16]


def visit(client: TestClient, path: str, **headers: str) -> httpx.Response:
    response: httpx.Response = client.get(path, headers=headers, follow_redirects=False)
    return response


def visits(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(
                    InviteVisit.member_id,
                    InviteVisit.ip_hash,
                    InviteVisit.ua_family,
                    InviteVisit.window_start,
                    InviteVisit.visited_at,
                ).order_by(InviteVisit.visited_at)
            ).all()
        )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The module's client reaches the app from the trusted proxy's address."""
    with TestClient(app, client=(PEER, 40000)) as test_client:
        yield test_client


@pytest.fixture
def untrusted(
    client: TestClient, make_settings: Callable[..., ReferralSettings], jwks: dict[str, Any]
) -> Iterator[TestClient]:
    """A client of a second app on the same stores that trusts no proxy ("testclient" peer)."""
    settings = make_settings(visitor_hash_key=KEY)
    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as other:
        yield other


# --- /i/{code} ------------------------------------------------------------------------------


def test_a_share_link_records_the_visit_and_leads_to_sign_in_with_the_invite(
    client: TestClient, code_of: Callable[[int], str], engine: Engine
) -> None:
    code = code_of(1)

    response = visit(client, f"/i/{code}", **{"User-Agent": CHROME})

    assert response.status_code == 302
    assert response.headers["location"] == f"{SIGN_IN}?invite={code}"
    assert response.headers["cache-control"] == "no-store"
    [(member_id, hashed, family, window_start, visited_at)] = visits(engine)
    assert (member_id, hashed, family) == (1, ip_hash(PEER), "Chrome")
    assert window_start <= visited_at < window_start + timedelta(seconds=1800)
    assert PEER.encode() not in hashed


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [(CHROME, "Chrome"), (FIREFOX, "Firefox"), (IPHONE, "Mobile Safari"), ("", "Other")],
)
def test_the_user_agents_family_is_recorded(
    client: TestClient,
    code_of: Callable[[int], str],
    engine: Engine,
    user_agent: str,
    family: str,
) -> None:
    code = code_of(1)

    visit(client, f"/i/{code}", **{"User-Agent": user_agent})

    assert [row.ua_family for row in visits(engine)] == [family]


def test_without_a_user_agent_the_family_is_other(
    client: TestClient, code_of: Callable[[int], str], engine: Engine
) -> None:
    code = code_of(1)
    del client.headers["user-agent"]

    assert visit(client, f"/i/{code}").status_code == 302

    assert [row.ua_family for row in visits(engine)] == ["Other"]


def test_a_link_preview_is_led_on_but_not_counted(
    client: TestClient, code_of: Callable[[int], str], engine: Engine
) -> None:
    code = code_of(1)

    response = visit(client, f"/i/{code}", **{"User-Agent": LINK_PREVIEW})

    assert response.headers["location"] == f"{SIGN_IN}?invite={code}"
    assert visits(engine) == []


@pytest.mark.parametrize(
    "path",
    [
        "/i/zzzzzz",  # well-formed, nobody's
        "/i/abc",  # too short
        "/i/abcdefg",  # too long
        "/i/abc12!",
        "/i/%C3%A9bc123",  # a non-ASCII letter
        "/i/abc123%0A",  # a trailing newline
        "/i/%20abc12",
        "/i/" + "a" * 4000,
        "/i/%00%00%00%00%00%00",
    ],
)
def test_an_unknown_or_malformed_code_leads_to_sign_in_and_records_nothing(
    client: TestClient, code_of: Callable[[int], str], engine: Engine, path: str
) -> None:
    code_of(1)

    response = visit(client, path)

    assert response.status_code == 302
    assert response.headers["location"] == SIGN_IN
    assert response.headers["cache-control"] == "no-store"
    assert visits(engine) == []


def test_codes_are_matched_with_their_case(
    client: TestClient, add_members: Callable[[list[int]], dict[int, str]], engine: Engine
) -> None:
    assert add_members([1]) == {1: "m00001"}

    assert visit(client, "/i/M00001").headers["location"] == SIGN_IN
    assert visits(engine) == []
    assert visit(client, "/i/m00001").headers["location"] == f"{SIGN_IN}?invite=m00001"


def test_a_link_cut_short_leads_to_sign_in(client: TestClient) -> None:
    response = visit(client, "/i/")

    assert response.status_code == 302
    assert response.headers["location"] == SIGN_IN


@pytest.mark.parametrize("path", ["/i/abc/def/ghi", "/i/abc123/qr.png", "/i/abc123/qr.svg/x"])
def test_other_paths_under_i_are_not_found(client: TestClient, path: str) -> None:
    response = visit(client, path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_flood_from_one_visitor_is_one_row_per_window(
    client: TestClient, code_of: Callable[[int], str], engine: Engine, bearer: Bearer
) -> None:
    code = code_of(1)
    for _ in range(50):
        assert visit(client, f"/i/{code}").status_code == 302
    assert len(visits(engine)) == 1

    # The same visitor in a later window is a new visit, by the same unique visitor.
    [row] = visits(engine)
    with engine.begin() as connection:
        connection.execute(
            update(InviteVisit).values(window_start=row.window_start - timedelta(hours=1))
        )
    for _ in range(10):
        visit(client, f"/i/{code}")

    assert len(visits(engine)) == 2
    stats = client.get(STATS, headers=bearer(1)).json()
    assert (stats["visits"], stats["unique_visitors"]) == (2, 1)


def test_the_visitor_is_the_forwarded_client_only_behind_a_trusted_proxy(
    client: TestClient, untrusted: TestClient, code_of: Callable[[int], str], engine: Engine
) -> None:
    code = code_of(1)

    visit(client, f"/i/{code}", **{"X-Forwarded-For": "203.0.113.7"})
    visit(client, f"/i/{code}", **{"X-Forwarded-For": "198.51.100.9"})
    # Not from a trusted proxy: the header is the client's own word, and ignored.
    visit(untrusted, f"/i/{code}", **{"X-Forwarded-For": "192.0.2.1"})

    assert {row.ip_hash for row in visits(engine)} == {
        ip_hash("203.0.113.7"),
        ip_hash("198.51.100.9"),
        ip_hash("testclient"),
    }


def test_an_ipv6_client_is_counted_by_its_64(
    client: TestClient, code_of: Callable[[int], str], engine: Engine
) -> None:
    code = code_of(1)

    visit(client, f"/i/{code}", **{"X-Forwarded-For": "2001:db8:1:2::1"})
    visit(client, f"/i/{code}", **{"X-Forwarded-For": "2001:db8:1:2:ffff::9"})

    assert [row.ip_hash for row in visits(engine)] == [ip_hash("2001:db8:1:2::/64")]


def counts(engine: Engine) -> tuple[int, int, list[Any]]:
    """Rows of invite_visit and of invite_visitor, and the funnels' counts."""
    with engine.connect() as connection:
        return (
            len(connection.execute(select(InviteVisit.member_id)).all()),
            len(connection.execute(select(InviteVisitor.member_id)).all()),
            [
                tuple(row)
                for row in connection.execute(
                    select(
                        InviteFunnel.member_id, InviteFunnel.visits, InviteFunnel.unique_visitors
                    ).order_by(InviteFunnel.member_id)
                )
            ],
        )


def test_concurrent_visits_are_each_counted_once(
    call: Callable[..., Any],
    state: ReferralState,
    code_of: Callable[[int], str],
    engine: Engine,
) -> None:
    """Ten visitors, each five times at once, then again in a later window: 20 visits, 10 seen."""
    code = code_of(1)
    clients = [f"203.0.113.{number}" for number in range(10)]

    async def flood(window_seconds: int) -> list[str]:
        return await asyncio.gather(
            *(
                share.visit(
                    state.engine,
                    invite_code=code,
                    client=address,
                    user_agent_header=CHROME,
                    key=KEY.encode(),
                    window_seconds=window_seconds,
                )
                for address in clients * 5
            )
        )

    assert set(call(flood, 1800)) == {f"{SIGN_IN}?invite={code}"}
    assert counts(engine) == (10, 10, [(1, 10, 10)])
    # A one-second window: the next second is a new window for every visitor.
    with engine.connect() as connection:
        latest = max(connection.execute(select(InviteVisit.window_start)).scalars())
    while share.window_start(datetime.now(UTC), 1) <= latest:
        time.sleep(0.05)
    call(flood, 1)

    assert counts(engine) == (20, 10, [(1, 20, 10)])


# --- /i/{code}/qr.svg -------------------------------------------------------------------------


def svg_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) an SVG from segno draws, its quiet zone included.

    segno draws each row's runs of dark modules as `h` segments of one path, scaled to modules,
    each run's row at the half module below its top.
    """
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
            run = int(float(dx))
            modules |= {(int(y), int(x) + step) for step in range(run)}
            x += run
    return modules


def segno_modules(url: str, border: int = 4) -> set[tuple[int, int]]:
    """The dark modules of segno's own QR code for `url`, offset by the quiet zone."""
    matrix = segno.make_qr(url, error="m").matrix
    return {
        (row + border, column + border)
        for row, cells in enumerate(matrix)
        for column, dark in enumerate(cells)
        if dark
    }


def test_the_qr_code_is_the_share_url(client: TestClient, code_of: Callable[[int], str]) -> None:
    code = code_of(1)

    response = client.get(f"/i/{code}/qr.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=86400"
    url = f"http://testserver/i/{code}"
    assert svg_modules(response.text) == segno_modules(url)
    assert svg_modules(response.text) != segno_modules(f"http://testserver/i/{code}x")


def test_the_qr_code_is_made_with_the_public_base_url(
    make_settings: Callable[..., ReferralSettings],
    jwks: dict[str, Any],
    code_of: Callable[[int], str],
) -> None:
    code = code_of(1)
    settings = make_settings(public_base_url="https://invite.example.com/")

    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as other:
        response = other.get(f"/i/{code}/qr.svg", headers={"Host": "evil.example"})

    assert svg_modules(response.text) == segno_modules(f"https://invite.example.com/i/{code}")


@pytest.mark.parametrize("code", ["zzzzzz", "abc", "abc12!", "a" * 2000])
def test_no_qr_code_for_an_unknown_code(
    client: TestClient, code_of: Callable[[int], str], code: str
) -> None:
    code_of(1)

    response = client.get(f"/i/{code}/qr.svg")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "No user has this invite code.",
        "code": "invite_code_not_found",
    }


# --- the funnel ---------------------------------------------------------------------------------


def test_a_new_members_funnel_is_empty_and_its_conversion_null(
    client: TestClient, bearer: Bearer
) -> None:
    response = client.get(STATS, headers=bearer(7))

    assert response.status_code == 200
    body = response.json()
    code = body["invite_code"]
    assert body == {
        "invite_code": code,
        "share_url": f"http://testserver/i/{code}",
        "visits": 0,
        "unique_visitors": 0,
        "activations": 0,
        "conversion": None,
    }
    assert client.get("/internal/referral/profile", headers=bearer(7)).json()["invite_code"] == code


def test_the_funnel_counts_visits_visitors_and_activations(
    client: TestClient,
    code_of: Callable[[int], str],
    activate: Callable[[int, object], httpx.Response],
    bearer: Bearer,
) -> None:
    code = code_of(1)
    other = code_of(2)
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"):
        visit(client, f"/i/{code}", **{"X-Forwarded-For": address})
    visit(client, f"/i/{code}", **{"X-Forwarded-For": "203.0.113.1"})  # the same window
    visit(client, f"/i/{other}", **{"X-Forwarded-For": "203.0.113.1"})  # someone else's code
    visit(client, "/i/zzzzzz")  # nobody's
    assert activate(3, code).status_code == 200
    assert activate(4, code).status_code == 200

    body = client.get(STATS, headers=bearer(1)).json()

    assert body["invite_code"] == code
    assert (body["visits"], body["unique_visitors"], body["activations"]) == (4, 4, 2)
    assert body["conversion"] == 0.5
    others = client.get(STATS, headers=bearer(2)).json()
    assert (others["visits"], others["activations"], others["conversion"]) == (1, 0, 0.0)


def test_the_share_url_follows_the_host(
    client: TestClient, untrusted: TestClient, bearer: Bearer, code_of: Callable[[int], str]
) -> None:
    code = code_of(1)

    def share_url(test_client: TestClient, **headers: str) -> str:
        response = test_client.get(STATS, headers={**bearer(1), **headers})
        assert response.status_code == 200, response.text
        url: str = response.json()["share_url"]
        return url

    assert share_url(client, Host="example.org:8443") == f"http://example.org:8443/i/{code}"
    # X-Forwarded-Proto is believed from the trusted proxy only.
    assert share_url(client, Host="example.org", **{"X-Forwarded-Proto": "https"}) == (
        f"https://example.org/i/{code}"
    )
    assert share_url(untrusted, Host="example.org", **{"X-Forwarded-Proto": "https"}) == (
        f"http://example.org/i/{code}"
    )
    assert share_url(client, Host="example.org", **{"X-Forwarded-Proto": "gopher"}) == (
        f"http://example.org/i/{code}"
    )
    # A Host that is no host name does not make the URL.
    assert share_url(client, Host="evil.example/<script>").startswith("http://testserver")


def test_the_public_base_url_wins_over_the_host(
    make_settings: Callable[..., ReferralSettings], jwks: dict[str, Any], bearer: Bearer
) -> None:
    settings = make_settings(public_base_url="https://invite.example.com")

    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as other:
        body = other.get(STATS, headers={**bearer(1), "Host": "example.org"}).json()

    assert body["share_url"] == f"https://invite.example.com/i/{body['invite_code']}"


def test_the_funnel_reads_the_access_cookie(client: TestClient, mint: Callable[..., str]) -> None:
    response = client.get(STATS, headers={"Cookie": f"access_token={mint(5)}"})

    assert response.status_code == 200
    assert response.json()["activations"] == 0
