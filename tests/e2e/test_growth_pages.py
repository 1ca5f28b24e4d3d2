"""The growth pages in Chromium (issue 12): the invite carried through sign-up, the share link
on the profile, its funnel, and the CSV download after the access token has gone.

Sign-ins that are not the subject of a test go through the API (tests.e2e.client) and hand the
browser its cookies.
"""
# ruff: noqa: RUF001 - the pages speak Russian: their words have Cyrillic letters

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e import pages
from tests.e2e.client import Session, activate, new_phone, profile, sign_in
from tests.e2e.pages import CYRILLIC, Person
from tests.e2e.test_sign_in_experience import signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
STATS = "/referral_system/api_referral_stats/"
CLIPBOARD = ["clipboard-read", "clipboard-write"]
LATIN = re.compile(r"^[^\u0400-\u04ff]*[A-Za-z]{3}[^\u0400-\u04ff]*$")
# Chromium has no Web Share API on Linux; these make the page meet a browser without and with it.
NO_WEB_SHARE = "delete Navigator.prototype.share; delete navigator.share;"
STUB_WEB_SHARE = """
  window.shared = [];
  Navigator.prototype.share = function (data) {
    window.shared.push(JSON.parse(JSON.stringify(data)));
    return Promise.resolve();
  };
"""


def stats(client: httpx.Client, session: Session) -> dict[str, Any]:
    response = client.get(STATS, headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def unknown_code() -> str:
    """A code of the right shape that nobody has (62^6 codes, a handful in use)."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))


def sign_in_through_pages(person: Person, phone: str, *, start: str) -> Page:
    """Signs in through the pages from `start` (a path or a URL) to the profile."""
    page = person.page
    page.goto(start if start.startswith("http") else person.url(start))
    pages.sign_in_through_pages(page, phone)
    return page


def kept_invite(page: Page) -> str | None:
    value = page.evaluate("sessionStorage.getItem('invite.code')")
    return None if value is None else str(value)


def drop_access_cookie(context: BrowserContext) -> None:
    """As if the access token had expired: only the refresh cookie is left."""
    kept = [c for c in context.cookies() if c["name"] != "access_token"]
    context.clear_cookies()
    context.add_cookies(kept)  # type: ignore[arg-type]


def unexpected_errors(person: Person) -> list[str]:
    # Chromium logs every 4xx answer to fetch() as "Failed to load resource".
    return [e for e in person.errors if "Failed to load resource" not in e]


# --- the invite carried through sign-up ------------------------------------------------------


def test_an_invite_is_shown_and_kept_through_the_code_page_a_reload_and_a_resend(
    person: Person, client: httpx.Client
) -> None:
    inviter = sign_in(client)
    code = profile(client, inviter)["invite_code"]
    page = person.page
    # A link as pasted from a message, spaces and all: the code is trimmed before it is shown.
    page.goto(person.url(f"/number_input/?invite={quote(f' {code} ')}"))
    banner = page.locator("#invite-banner")
    expect(banner).to_be_visible()
    expect(page.locator("#invite-banner-code")).to_have_text(code)
    expect(banner).to_have_text(CYRILLIC)
    # The code only: nothing of the inviter's identity.
    expect(banner).not_to_contain_text(inviter.phone[-4:])
    expect(page.locator("#phone")).to_be_focused()

    page.fill("#phone", new_phone())
    page.click("#phone-submit")
    expect(page).to_have_url(re.compile(r"/otp_input/$"))
    expect(page.locator("#invite-banner-code")).to_have_text(code)
    page.reload()
    expect(page.locator("#invite-banner-code")).to_have_text(code)
    assert kept_invite(page) == code

    # A resend keeps it too (once the short cooldown of the test run has passed).
    expect(page.locator("#resend")).to_be_enabled()
    page.click("#resend")
    expect(page.locator("#status")).to_be_visible()
    expect(page.locator("#invite-banner-code")).to_have_text(code)
    # So does going back to change the number.
    page.click("a[href='/number_input/']")
    expect(page).to_have_url(re.compile(r"/number_input/$"))
    expect(page.locator("#invite-banner-code")).to_have_text(code)
    page.click("#lang-toggle")
    expect(page.locator("#invite-banner")).to_have_text(LATIN)
    assert unexpected_errors(person) == []


@pytest.mark.parametrize(
    "invite",
    ["<img src=x onerror=alert(1)>", "abc", "ABCDEFG", "ab-cd1", "%F0%9F%98%80x5"],
)
def test_an_invite_not_shaped_like_a_code_is_neither_shown_nor_kept(
    person: Person, invite: str
) -> None:
    page = person.page
    page.goto(person.url(f"/number_input/?invite={quote(invite, safe='%')}"))
    expect(page.locator("#phone")).to_be_visible()
    expect(page.locator("#invite-banner")).to_be_hidden()
    expect(page.locator("#invite-banner-code")).to_have_text("")
    assert page.locator("#invite-banner img").count() == 0
    assert kept_invite(page) is None


def test_signing_up_with_an_invite_lands_on_a_profile_with_it_activated(
    person: Person, client: httpx.Client
) -> None:
    inviter = sign_in(client)
    code = profile(client, inviter)["invite_code"]
    page = sign_in_through_pages(person, new_phone(), start=f"/number_input/?invite={code}")
    expect(page.locator("#activated-code")).to_have_text(code)
    expect(page.locator("#activate-form")).to_be_hidden()
    expect(page.locator("#activate-status")).to_have_text(f"Готово: инвайт-код {code} активирован.")
    expect(page.locator("#activated")).to_be_focused()
    # Used once, then forgotten: a reload shows the profile as it is, with nothing to announce.
    assert kept_invite(page) is None
    page.reload()
    expect(page.locator("#activated-code")).to_have_text(code)
    expect(page.locator("#activate-status")).to_be_hidden()
    expect(page.locator("#invite-note")).to_be_hidden()
    # The server agrees, and the inviter sees the new invitee.
    invitee_phone = page.locator("#user-phone").get_attribute("data-phone")
    assert [u["phone"] for u in profile(client, inviter)["invited_users"]] == [invitee_phone]
    assert unexpected_errors(person) == []


REFUSALS = {
    "own": re.compile(r"собственный код (\w{6})\. Свой код активировать нельзя"),
    "already": re.compile(r"но уже активировали код (\w{6})\. Активировать можно только один код"),
    "unknown": re.compile(r"^Кода (\w{6}) из ссылки-приглашения нет"),
    "cycle": re.compile(r"^Код (\w{6}) из ссылки-приглашения принадлежит тому, кого пригласили вы"),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_an_invite_that_cannot_be_activated_is_explained_and_sign_in_goes_on(
    person: Person, client: httpx.Client, refusal: str
) -> None:
    user = sign_in(client)
    mine = profile(client, user)["invite_code"]
    other = sign_in(client)
    theirs = profile(client, other)["invite_code"]
    if refusal == "own":
        invite = mine
    elif refusal == "already":
        assert activate(client, user, theirs).status_code == 200
        invite = profile(client, sign_in(client))["invite_code"]
    elif refusal == "unknown":
        invite = unknown_code()
    else:  # cycle: the user invited `other`, whose code would close the loop
        assert activate(client, other, mine).status_code == 200
        invite = theirs

    page = sign_in_through_pages(person, user.phone, start=f"/number_input/?invite={invite}")
    note = page.locator("#invite-note")
    expect(note).to_have_text(REFUSALS[refusal])
    match = REFUSALS[refusal].search(note.inner_text())
    assert match and match[1] == (theirs if refusal == "already" else invite)
    # Said calmly, not as an error: the profile is there and usable.
    expect(page.locator("#activate-error")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#invite-code")).to_have_text(mine)
    if refusal == "already":
        expect(page.locator("#activated-code")).to_have_text(theirs)
        expect(page.locator("#activate-form")).to_be_hidden()
    else:
        expect(page.locator("#activated")).to_be_hidden()
        expect(page.locator("#activate-form")).to_be_visible()
        assert profile(client, user)["activated_invite_code"] is None
    page.click("#lang-toggle")
    expect(note).to_have_text(LATIN)
    assert kept_invite(page) is None
    assert unexpected_errors(person) == []


def test_a_signed_in_visitor_with_an_invite_gets_it_offered_on_the_profile(
    person: Person, client: httpx.Client
) -> None:
    code = profile(client, sign_in(client))["invite_code"]
    signed_in(person, sign_in(client))
    page = person.page
    page.goto(person.url(f"/number_input/?invite={code}"))
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator("#invite-note")).to_have_text(
        f"Вас пригласили по коду {code}. Нажмите «Активировать», чтобы принять приглашение."
    )
    expect(page.locator("#invite-code-input")).to_have_value(code)
    expect(page.locator("#invite-code-input")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#activated-code")).to_have_text(code)
    expect(page.locator("#invite-note")).to_be_hidden()

    # Once activated, another invite link only earns a quiet note.
    another = profile(client, sign_in(client))["invite_code"]
    page.goto(person.url(f"/number_input/?invite={another}"))
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator("#invite-note")).to_have_text(re.compile(f"уже активировали код {code}"))
    expect(page.locator("#activate-error")).to_be_hidden()
    assert unexpected_errors(person) == []


# --- the share link on the profile -----------------------------------------------------------


def test_the_profile_shows_the_share_link_copies_it_and_shows_its_qr_code(
    open_context: Callable[..., BrowserContext], base_url: str, client: httpx.Client
) -> None:
    session = sign_in(client)
    expected = stats(client, session)
    assert expected["share_url"].startswith(("http://", "https://"))
    person = signed_in(Person(open_context(permissions=CLIPBOARD), base_url), session)
    page = person.page
    page.goto(person.url("/profile/"))
    expect(page.locator("#share-url")).to_have_text(expected["share_url"])

    page.click("#copy-share-url")
    expect(page.locator("#copy-share-url")).to_have_text("Скопировано")
    expect(page.locator("#share-status")).to_have_text("Ссылка скопирована")
    assert page.evaluate("navigator.clipboard.readText()") == expected["share_url"]

    qr = page.locator("#share-qr")
    expect(qr).to_have_attribute("src", f"/i/{expected['invite_code']}/qr.svg")
    expect(qr).to_have_attribute("alt", "QR-код ссылки-приглашения")
    page.wait_for_function("() => document.getElementById('share-qr').complete")
    assert qr.evaluate("img => img.naturalWidth") > 0
    page.click("#lang-toggle")
    expect(qr).to_have_attribute("alt", "QR code of the invite link")
    assert unexpected_errors(person) == []


def test_the_share_button_is_there_only_with_the_web_share_api(
    open_context: Callable[..., BrowserContext], base_url: str, client: httpx.Client
) -> None:
    session = sign_in(client)
    share_url = stats(client, session)["share_url"]

    without = signed_in(Person(open_context(), base_url), session)
    without.context.add_init_script(NO_WEB_SHARE)
    without.page.goto(without.url("/profile/"))
    expect(without.page.locator("#share-url")).to_have_text(share_url)
    expect(without.page.locator("#share-link")).to_be_hidden()

    with_api = signed_in(Person(open_context(), base_url), session)
    with_api.context.add_init_script(STUB_WEB_SHARE)
    page = with_api.page
    page.goto(with_api.url("/profile/"))
    share = page.locator("#share-link")
    expect(share).to_be_visible()
    expect(share).to_have_text("Поделиться…")
    share.click()
    page.wait_for_function("() => window.shared.length === 1")
    shared = page.evaluate("window.shared[0]")
    assert shared["url"] == share_url
    assert shared["title"]


def test_the_funnel_counts_a_visit_and_an_activation(
    open_context: Callable[..., BrowserContext],
    base_url: str,
    client: httpx.Client,
    screenshots: Path,
) -> None:
    alice = sign_in(client)
    alice_view = signed_in(Person(open_context(), base_url), alice)
    page = alice_view.page
    page.goto(alice_view.url("/profile/"))
    share_url = page.locator("#share-url")
    expect(share_url).to_have_text(re.compile(r"^https?://.+/i/[A-Za-z0-9]{6}$"))
    code = page.locator("#invite-code").inner_text()
    for stat in ("visits", "unique", "activations"):
        expect(page.locator(f"#stats-{stat}")).to_have_text("0")
    expect(page.locator("#stats-conversion")).to_have_text("—")

    # Bob follows the link, signs up, and lands on a profile with Alice's code activated.
    bob = Person(open_context(viewport=PHONE, is_mobile=True, has_touch=True), base_url)
    bob.page.goto(share_url.inner_text())
    expect(bob.page).to_have_url(re.compile(rf"/number_input/\?invite={code}$"))
    expect(bob.page.locator("#invite-banner-code")).to_have_text(code)
    bob_page = sign_in_through_pages(bob, new_phone(), start=bob.page.url)
    expect(bob_page.locator("#activated-code")).to_have_text(code)

    page.reload()
    expect(page.locator("#stats-visits")).to_have_text("1")
    expect(page.locator("#stats-unique")).to_have_text("1")
    expect(page.locator("#stats-activations")).to_have_text("1")
    expect(page.locator("#stats-conversion")).to_have_text(re.compile(r"^100\s?%$"))
    expect(page.locator("#invited-count")).to_have_text("1")
    figures = stats(client, alice)
    assert (figures["visits"], figures["unique_visitors"], figures["activations"]) == (1, 1, 1)

    page.wait_for_function("() => document.getElementById('share-qr').naturalWidth > 0")
    alice_view.page.screenshot(
        path=str(screenshots / "profile-share-desktop.png"), full_page=True, animations="disabled"
    )
    phone_view = signed_in(
        Person(open_context(viewport=PHONE, is_mobile=True, has_touch=True), base_url), alice
    )
    phone_view.context.add_init_script(STUB_WEB_SHARE)
    phone_page = phone_view.page
    phone_page.goto(phone_view.url("/profile/"))
    expect(phone_page.locator("#stats-activations")).to_have_text("1")
    phone_page.wait_for_function("() => document.getElementById('share-qr').naturalWidth > 0")
    phone_page.screenshot(
        path=str(screenshots / "profile-share-phone.png"), full_page=True, animations="disabled"
    )

    page.click("#lang-toggle")
    expect(page.locator("#stats-conversion")).to_have_text("100%")
    expect(page.locator("#stats-heading")).to_have_text("Invitation funnel")
    for viewer in (alice_view, bob, phone_view):
        assert unexpected_errors(viewer) == []


# --- the CSV download --------------------------------------------------------------------------


def test_the_csv_link_renews_an_expired_session_before_it_downloads(
    open_context: Callable[..., BrowserContext], base_url: str, client: httpx.Client
) -> None:
    inviter = sign_in(client)
    invitee = sign_in(client)
    assert activate(client, invitee, profile(client, inviter)["invite_code"]).status_code == 200
    person = signed_in(Person(open_context(accept_downloads=True), base_url), inviter)
    page = person.page
    page.goto(person.url("/profile/"))
    csv = page.locator("#invited-csv")
    expect(csv).to_be_visible()

    drop_access_cookie(person.context)
    with page.expect_download() as download:
        csv.click()
    assert download.value.suggested_filename == "invited_users.csv"
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,phone,activated_at"
    assert [line.split(",")[1] for line in lines[1:]] == [invitee.phone]
    assert any(c["name"] == "access_token" for c in person.context.cookies())
    expect(page).to_have_url(re.compile(r"/profile/$"))

    # With the whole session gone, the click leads to the sign-in page instead of a file.
    person.context.clear_cookies()
    csv.click()
    expect(page).to_have_url(re.compile(r"/number_input/$"))
