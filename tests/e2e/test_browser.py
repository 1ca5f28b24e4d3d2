"""Two people use the web pages in Chromium: sign up, invite, activate, switch language, leave."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.client import new_phone
from tests.e2e.pages import CYRILLIC, DESKTOP, PHONE, Person

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def people(browser: Browser, base_url: str) -> Iterator[tuple[Person, Person]]:
    desktop = browser.new_context(viewport=DESKTOP, locale="ru-RU")
    phone = browser.new_context(viewport=PHONE, locale="ru-RU", is_mobile=True, has_touch=True)
    try:
        yield Person(desktop, base_url), Person(phone, base_url)
    finally:
        desktop.close()
        phone.close()


def sign_up(person: Person, phone: str, screenshots: Path, tag: str) -> None:
    page = person.page
    page.goto(person.url("/"))
    expect(page).to_have_url(re.compile(r"/number_input/$"))
    person.shoot(screenshots, f"number_input-{tag}")
    page.fill("#phone", f"+7 {phone[:3]} {phone[3:6]}-{phone[6:8]}-{phone[8:]}")
    page.click("#phone-submit")
    expect(page).to_have_url(re.compile(r"/otp_input/$"))
    code = page.locator("#dev-sms-code")
    expect(code).to_have_text(re.compile(r"^\d{4}$"))
    expect(page.locator("#countdown")).to_be_visible()
    person.shoot(screenshots, f"otp_input-{tag}")
    page.fill("#otp", code.inner_text())
    page.click("#otp-submit")
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator("#user-phone")).to_have_attribute("data-phone", phone)


def test_two_people_invite_each_other_through_the_pages(
    people: tuple[Person, Person], screenshots: Path
) -> None:
    alice, bob = people
    alice_phone, bob_phone = new_phone(), new_phone()

    sign_up(alice, alice_phone, screenshots, "desktop")
    alice_code = alice.page.locator("#invite-code").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{6}", alice_code)
    sign_up(bob, bob_phone, screenshots, "phone")

    # A mistake first: Bob's own code is refused in words, in Russian by default.
    bob_code = bob.page.locator("#invite-code").inner_text().strip()
    bob.page.fill("#invite-code-input", bob_code)
    bob.page.click("#activate-submit")
    expect(bob.page.locator("#activate-error")).to_be_visible()
    expect(bob.page.locator("#activate-error")).to_have_text(CYRILLIC)

    bob.page.fill("#invite-code-input", alice_code)
    bob.page.click("#activate-submit")
    expect(bob.page.locator("#activated-code")).to_have_text(alice_code)
    expect(bob.page.locator("#activate-form")).to_be_hidden()
    bob.shoot(screenshots, "profile-phone")

    alice.page.reload()
    expect(alice.page.locator(f'#invited-list li[data-phone="{bob_phone}"]')).to_be_visible()
    expect(alice.page.locator("#invited-count")).to_have_text(re.compile(r"\b1\b"))
    expect(alice.page.locator("#show-more")).to_be_hidden()
    alice.shoot(screenshots, "profile-desktop")

    alice.page.click("#lang-toggle")
    expect(alice.page.locator("html")).to_have_attribute("lang", "en")
    alice.page.fill("#invite-code-input", alice_code)
    alice.page.click("#activate-submit")
    expect(alice.page.locator("#activate-error")).to_have_text(re.compile(r"[A-Za-z]{3}"))
    alice.shoot(screenshots, "profile-desktop-en")
    alice.page.reload()
    expect(alice.page.locator("html")).to_have_attribute("lang", "en")  # the choice is kept

    for person in (alice, bob):
        person.page.click("#logout")
        expect(person.page).to_have_url(re.compile(r"/number_input/$"))
        person.page.goto(person.url("/profile/"))
        expect(person.page).to_have_url(re.compile(r"/number_input/$"))

    # Chromium logs every 4xx answer to fetch() as "Failed to load resource" (the 401 a
    # logged-out page gets, the 409 of the refused activation); anything else is a defect.
    unexpected = [e for e in alice.errors + bob.errors if "Failed to load resource" not in e]
    assert unexpected == []


def test_an_expired_access_token_is_refreshed_silently(
    people: tuple[Person, Person], screenshots: Path
) -> None:
    alice, _ = people
    sign_up(alice, new_phone(), screenshots, "refresh")
    # Drop the access cookie as if it had expired; the refresh cookie remains.
    kept = [c for c in alice.context.cookies() if c["name"] != "access_token"]
    alice.context.clear_cookies()
    alice.context.add_cookies(kept)  # type: ignore[arg-type]
    alice.page.goto(alice.url("/profile/"))
    expect(alice.page).to_have_url(re.compile(r"/profile/$"))
    expect(alice.page.locator("#invite-code")).to_have_text(re.compile(r"^[A-Za-z0-9]{6}$"))
    assert any(c["name"] == "access_token" for c in alice.context.cookies())


def test_sign_in_by_keyboard_alone_and_home_leads_to_the_profile(
    people: tuple[Person, Person],
) -> None:
    _, person = people
    page = person.page
    phone = new_phone()
    page.goto(person.url("/number_input/"))
    page.locator("#phone").focus()
    page.keyboard.type(phone)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/otp_input/$"))
    expect(page.locator("#otp")).to_be_focused()
    code = page.locator("#dev-sms-code")
    expect(code).to_have_text(re.compile(r"^\d{4}$"))
    page.keyboard.type(code.inner_text())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/profile/$"))

    # Once the profile has loaded, the activation form takes a code and Enter submits it.
    expect(page.locator("#invite-code")).to_have_text(re.compile(r"^[A-Za-z0-9]{6}$"))
    page.locator("#invite-code-input").focus()
    page.keyboard.type("bad")
    page.keyboard.press("Enter")
    expect(page.locator("#activate-error")).to_be_visible()

    page.goto(person.url("/"))
    expect(page).to_have_url(re.compile(r"/profile/$"))
