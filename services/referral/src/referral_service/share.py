"""The share link: its URL and QR code, the visits it gets, and the funnel they feed.

A visit stands for its visitor by a keyed hash: HMAC-SHA-256 under VISITOR_HASH_KEY of the
client's address (an IPv6 client's /64, as the per-IP limits count it), cut to 16 bytes; the
address itself is never stored. Rotating the key makes returning visitors new ones.

What a flood costs: a malformed code is refused without a query; any other is one indexed
statement (one lookup, and an insert that does nothing on a conflict). A visitor is recorded
at most once per code in each INVITE_VISIT_WINDOW_SECONDS window (the table's primary key),
so one client adds at most one row per code per window however often it asks, and clients
that rotate addresses add one row per address (per IPv6 /64) per window. Crawlers (link
previews: ua-parser's device family "Spider") are redirected but not recorded.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import segno
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool
from ua_parser import Domain, loaders, regex

from common.client_ip import rate_limit_subject
from referral_service import service, visits
from referral_service.codes import CODE_PATTERN
from referral_service.errors import InviteCodeNotFound

SIGN_IN_PAGE = "/number_input/"
SHARE_PATH = "/i/"
# Enough of a user agent to name its family; the rest is not read.
MAX_USER_AGENT_CHARS = 512
UA_FAMILY_CHARS = 32
OTHER = "Other"
SPIDER = "Spider"
QR_CACHE_SIZE = 1024

_CODE = re.compile(CODE_PATTERN)


@dataclass(frozen=True, slots=True)
class Funnel:
    invite_code: str
    share_url: str
    visits: int
    unique_visitors: int
    activations: int

    @property
    def conversion(self) -> float | None:
        """Activations per unique visitor; None before the first visitor.

        Above 1 when people activate the code without following the link.
        """
        return self.activations / self.unique_visitors if self.unique_visitors else None


def is_code(text: str) -> bool:
    """Whether `text` is an invite code as the activation API accepts one (case-sensitive)."""
    return _CODE.fullmatch(text) is not None


def share_url(base_url: str, invite_code: str) -> str:
    return f"{base_url}{SHARE_PATH}{invite_code}"


def sign_in_url(invite_code: str | None) -> str:
    """Where a share link leads: the sign-in page, carrying the invite when there is one."""
    if invite_code is None:
        return SIGN_IN_PAGE
    return f"{SIGN_IN_PAGE}?{urlencode({'invite': invite_code})}"


def visitor_hash(key: bytes, client: str) -> bytes:
    return hmac.new(key, rate_limit_subject(client).encode(), hashlib.sha256).digest()[:16]


@dataclass(frozen=True, slots=True)
class Agent:
    family: str
    crawler: bool


@functools.cache
def _resolver() -> regex.Resolver:
    """ua-parser's compiled rules for what a visit reads: the user agent's family, and whether
    the device is a crawler (uap-core's "Spider" device rules).

    Its whole rule set (operating systems and every device brand too) costs each worker about
    21 MiB; these parts cost about 4 MiB, measured after a parse in a referral worker.
    """
    agents, _, devices = loaders.load_builtins()
    spiders = [device for device in devices if getattr(device, "family", None) == SPIDER]
    return regex.Resolver((agents, [], spiders))


def user_agent(header: str | None) -> Agent:
    """The user agent's family as ua-parser names it ("Chrome", "Mobile Safari"; "Other")."""
    result = _resolver()((header or "")[:MAX_USER_AGENT_CHARS], Domain.USER_AGENT | Domain.DEVICE)
    family = result.user_agent.family if result.user_agent else OTHER
    crawler = result.device is not None and result.device.family == SPIDER
    return Agent(family=family[:UA_FAMILY_CHARS] or OTHER, crawler=crawler)


def warm_up() -> None:
    """Compile the rules (about half a second) before the first visit needs them."""
    user_agent("Mozilla/5.0")


def window_start(now: datetime, window_seconds: int) -> datetime:
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % window_seconds, UTC)


async def visit(
    engine: AsyncEngine,
    *,
    invite_code: str,
    client: str,
    user_agent_header: str | None,
    key: bytes,
    window_seconds: int,
) -> str:
    """Record a visit to the code's share link; the URL the visitor is sent on to.

    An unknown or malformed code leads to the sign-in page without an invite, and nothing is
    recorded.
    """
    if not is_code(invite_code):
        return sign_in_url(None)
    agent = user_agent(user_agent_header)
    if agent.crawler:
        known = await visits.code_exists(engine, invite_code)
        return sign_in_url(invite_code if known else None)
    now = datetime.now(UTC)
    owner = await visits.record_visit(
        engine,
        invite_code=invite_code,
        visit=visits.Visit(
            ip_hash=visitor_hash(key, client),
            window_start=window_start(now, window_seconds),
            visited_at=now,
            ua_family=agent.family,
        ),
    )
    return sign_in_url(invite_code if owner is not None else None)


async def qr_svg(engine: AsyncEngine, *, invite_code: str, base_url: str) -> bytes:
    """The code's share URL as an SVG QR code; InviteCodeNotFound for no such code."""
    if not is_code(invite_code) or not await visits.code_exists(engine, invite_code):
        raise InviteCodeNotFound()
    # Choosing the mask is most of the work (about 15 ms): off the event loop, once per URL.
    return await run_in_threadpool(_render_qr, share_url(base_url, invite_code))


@functools.lru_cache(maxsize=QR_CACHE_SIZE)
def _render_qr(url: str) -> bytes:
    out = io.BytesIO()
    segno.make_qr(url, error="m").save(out, kind="svg", scale=8, border=4, title=url)
    return out.getvalue()


async def funnel(engine: AsyncEngine, *, user_id: int, phone: str, base_url: str) -> Funnel:
    """The member's share URL and its funnel; a new user becomes a member."""
    row = await visits.funnel(engine, user_id)
    if row is None:
        await service.ensure_member(engine, user_id=user_id, phone=phone)
        row = await visits.funnel(engine, user_id)
        assert row is not None
    invite_code, activations, visit_count, visitors = row
    return Funnel(
        invite_code=invite_code,
        share_url=share_url(base_url, invite_code),
        visits=visit_count,
        unique_visitors=visitors,
        activations=activations,
    )
