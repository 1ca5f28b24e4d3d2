"""The operator console in Chromium, in both run modes: an operator signs in through the pages,
finds a user, opens the card, bans with a reason, sees the ban in the audit log and lifts it;
the statistics draw their charts; the page works at 360 px; anyone else is sent away."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.client import Session, activate, profile, sign_in
from tests.e2e.conftest import ADMIN_PHONE
from tests.e2e.pages import DESKTOP, Person, request_code
from tests.e2e.test_sign_in_experience import signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NARROW = {"width": 360, "height": 780}
VIEWS = {
    "search": "#search-section",
    "card": "#user-card",
    "stats": "#stats-section",
    "audit": "#audit-section",
}


@pytest.fixture
def screenshots(artifacts_dir: Path) -> Path:
    """One folder for both modes, unlike the conftest's (a folder a mode)."""
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def invited_user(base_url: str) -> tuple[Session, Session]:
    """An inviter and the user who activated the inviter's code."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        inviter = sign_in(client)
        user = sign_in(client)
        code = profile(client, inviter)["invite_code"]
        assert activate(client, user, code).status_code == 200
    return inviter, user


def operator_signs_in(person: Person) -> Page:
    """The operator signs in through the pages like anyone, then opens the console."""
    page = person.page
    page.goto(person.url("/number_input/"))
    page.fill("#otp", request_code(page, ADMIN_PHONE))
    page.click("#otp-submit")
    expect(page).to_have_url(re.compile(r"/profile/$"))
    page.goto(person.url("/admin/"))
    expect(page.locator("#console")).to_be_visible()
    return page


def search(page: Page, phone: str, user_id: int) -> None:
    """Searches by a whole phone number: one row, the user's. (The list shown before the
    answer has more rows, so the wait is for the search's own answer.)"""
    page.fill("#search-q", phone)
    page.keyboard.press("Enter")
    expect(page.locator("#results-body tr")).to_have_count(1)
    expect(page.locator("#results-body tr")).to_have_attribute("data-user-id", str(user_id))


def shoot(page: Page, folder: Path, view: str, size: str) -> None:
    section = page.locator(VIEWS[view])
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(folder / f"admin-{view}-{size}.png"))


def fits(page: Page, width: int) -> bool:
    """Nothing makes the page scroll sideways (wide tables scroll inside their card)."""
    return bool(page.evaluate(f"document.documentElement.scrollWidth <= {width}"))


def test_an_operator_finds_a_user_bans_sees_the_audit_and_lifts_the_ban(
    base_url: str, open_context: Callable[..., BrowserContext], screenshots: Path
) -> None:
    inviter, user = invited_user(base_url)
    person = Person(open_context(), base_url)
    page = operator_signs_in(person)
    expect(page.locator("#charts figure")).to_have_count(6)

    search(page, user.phone[:3] + " " + user.phone[3:], user.user_id)
    row = page.locator(f'#results-body tr[data-user-id="{user.user_id}"]')
    expect(row).to_contain_text(profile_code(base_url, inviter))
    expect(row).to_contain_text("Активен")
    shoot(page, screenshots, "search", "desktop")

    row.get_by_role("button", name=re.compile("Открыть")).click()
    card = page.locator("#user-card")
    expect(card).to_be_visible()
    expect(page.locator("#card-heading")).to_be_focused()
    expect(page.locator("#card-id")).to_have_text(str(user.user_id))
    expect(page.locator("#card-chain li")).to_have_count(1)
    expect(page.locator("#card-chain")).to_contain_text(f"ID {inviter.user_id}")
    expect(page.locator("#card-sessions li")).to_have_count(1)
    shoot(page, screenshots, "card", "desktop")

    page.fill("#ban-reason", "Спам в приглашениях")
    page.click("#ban-submit")

    expect(page.locator("#card-status-message")).to_contain_text("заблокирован")
    expect(page.locator("#card-ban")).to_have_text("Заблокирован бессрочно")
    expect(page.locator("#card-sessions li")).to_have_count(0)
    expect(page.locator("#unban")).to_be_focused()
    expect(row).to_contain_text("Заблокирован бессрочно")
    # The audit log, filtered by the user, shows the ban with its reason.
    page.fill("#audit-user", str(user.user_id))
    page.select_option("#audit-type", "ban")
    page.click("#audit-submit")
    ban_rows = page.locator('#audit-body tr[data-type="ban"]')
    expect(ban_rows).to_have_count(1)
    expect(ban_rows.first).to_contain_text("Спам в приглашениях")
    expect(ban_rows.first).to_contain_text("Блокировка пользователя")
    shoot(page, screenshots, "audit", "desktop")

    page.click("#unban")

    expect(page.locator("#card-status-message")).to_contain_text("Блокировка снята")
    expect(page.locator("#card-ban")).to_have_text("Нет")
    expect(page.locator("#ban-form")).to_be_visible()
    page.select_option("#audit-type", "")
    page.click("#audit-submit")
    expect(page.locator('#audit-body tr[data-type="unban"]')).to_have_count(1)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        assert sign_in(client, user.phone).user_id == user.user_id

    page.click("#days-7")
    expect(page.locator("#days-7")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#charts figure")).to_have_count(6)
    expect(page.locator("#charts svg rect")).to_have_count(6 * 7)
    expect(page.locator("#total-sign_ins")).not_to_have_text("—")
    shoot(page, screenshots, "stats", "desktop")

    page.click("#lang-toggle")
    expect(page.locator("#stats-section-heading")).to_have_text("Statistics")
    expect(page.locator("#charts figure").first).to_contain_text("Sign-ins")
    page.click("#lang-toggle")
    assert fits(page, DESKTOP["width"])
    assert person.errors == [] or all("Failed to load resource" in e for e in person.errors)

    # The same console on a 360 px screen, with the operator's cookies.
    narrow = Person(open_context(viewport=NARROW, is_mobile=True, has_touch=True), base_url)
    narrow.context.add_cookies(person.context.cookies())
    phone_page = narrow.page
    phone_page.goto(narrow.url("/admin/"))
    expect(phone_page.locator("#console")).to_be_visible()
    search(phone_page, f"+7{user.phone}", user.user_id)
    shoot(phone_page, screenshots, "search", "360")
    phone_page.locator("#results-body tr").first.get_by_role("button").click()
    expect(phone_page.locator("#card-id")).to_have_text(str(user.user_id))
    shoot(phone_page, screenshots, "card", "360")
    expect(phone_page.locator("#charts figure")).to_have_count(6)
    shoot(phone_page, screenshots, "stats", "360")
    expect(phone_page.locator("#audit-body tr").first).to_be_visible()
    shoot(phone_page, screenshots, "audit", "360")
    assert fits(phone_page, NARROW["width"])


def profile_code(base_url: str, session: Session) -> str:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        return str(profile(client, session)["invite_code"])


def test_the_console_can_be_used_from_the_keyboard(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> None:
    """Search with Enter, open a card with Enter, close it: focus goes back where it was."""
    _, user = invited_user(base_url)
    person = Person(open_context(), base_url)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        admin = sign_in(client, ADMIN_PHONE)
    page = signed_in(person, admin).page
    page.goto(person.url("/admin/"))
    expect(page.locator("#console")).to_be_visible()
    page.focus("#search-q")
    page.keyboard.type(user.phone)
    page.keyboard.press("Enter")
    expect(page.locator("#results-body tr")).to_have_count(1)
    expect(page.locator("#results-body tr")).to_have_attribute("data-user-id", str(user.user_id))
    opener = page.locator("#results-body tr").first.get_by_role("button")
    opener.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#card-heading")).to_be_focused()
    page.focus("#card-close")
    page.keyboard.press("Enter")
    expect(page.locator("#user-card")).to_be_hidden()
    expect(opener).to_be_focused()


def test_a_user_without_the_role_is_sent_to_the_profile(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        session = sign_in(client)
    person = signed_in(Person(open_context(), base_url), session)

    person.page.goto(person.url("/admin/"))

    expect(person.page).to_have_url(re.compile(r"/profile/$"))
    expect(person.page.locator("#user-phone")).to_have_attribute("data-phone", session.phone)


def test_a_signed_out_visitor_is_asked_to_sign_in(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> None:
    person = Person(open_context(), base_url)

    person.page.goto(person.url("/admin/"))

    expect(person.page).to_have_url(re.compile(r"/number_input/$"))
    expect(person.page.locator("#console")).to_have_count(0)
