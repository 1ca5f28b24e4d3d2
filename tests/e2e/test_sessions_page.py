"""The profile's "Devices" card in Chromium, in both run modes: the sessions listed with this
device marked, another device signed out from here (its next page is the sign-in page), and
"sign out everywhere"."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.client import sign_in
from tests.e2e.pages import Person
from tests.e2e.test_sign_in_experience import signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def two_devices(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> tuple[Person, Person]:
    """One user signed in on a Linux laptop (Firefox) and on an iPhone (Safari)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.headers["user-agent"] = FIREFOX_LINUX
        laptop_session = sign_in(client)
        client.headers["user-agent"] = SAFARI_IPHONE
        phone_session = sign_in(client, laptop_session.phone)
    laptop = signed_in(Person(open_context(user_agent=FIREFOX_LINUX), base_url), laptop_session)
    phone = signed_in(Person(open_context(user_agent=SAFARI_IPHONE), base_url), phone_session)
    return laptop, phone


def test_the_devices_are_listed_and_another_one_is_signed_out_from_here(
    base_url: str, open_context: Callable[..., BrowserContext], screenshots: Path
) -> None:
    laptop, phone = two_devices(base_url, open_context)
    page = laptop.page
    page.goto(laptop.url("/profile/"))
    items = page.locator("#sessions-list li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Safari · iOS")
    expect(items.nth(1)).to_contain_text("Firefox · Linux")
    expect(items.nth(1)).to_contain_text("это устройство")
    expect(items.nth(0)).not_to_contain_text("это устройство")
    page.locator("#sessions-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "profile-devices-desktop.png"), full_page=True)

    items.nth(0).get_by_role("button", name="Завершить").click()

    expect(items).to_have_count(1)
    expect(page.locator("#sessions-status")).to_contain_text("Сеанс завершён")
    # The phone's session is over: its next page is the sign-in page, refresh or not.
    phone.page.goto(phone.url("/profile/"))
    expect(phone.page).to_have_url(re.compile(r"/number_input/$"))
    # This device is still signed in.
    page.reload()
    expect(page.locator("#sessions-list li")).to_have_count(1)
    assert laptop.errors == [] or all("Failed to load resource" in e for e in laptop.errors)


def test_sign_out_everywhere_ends_every_device(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> None:
    laptop, phone = two_devices(base_url, open_context)
    laptop.page.goto(laptop.url("/profile/"))
    expect(laptop.page.locator("#sessions-list li")).to_have_count(2)

    laptop.page.click("#logout-all")

    expect(laptop.page).to_have_url(re.compile(r"/number_input/$"))
    for person in (laptop, phone):
        person.page.goto(person.url("/profile/"))
        expect(person.page).to_have_url(re.compile(r"/number_input/$"))


def test_the_card_speaks_english_too(
    base_url: str, open_context: Callable[..., BrowserContext]
) -> None:
    laptop, _ = two_devices(base_url, open_context)
    page = laptop.page
    page.goto(laptop.url("/profile/"))
    expect(page.locator("#sessions-list li")).to_have_count(2)
    page.click("#lang-toggle")
    expect(page.locator("#sessions-heading")).to_have_text("Devices")
    expect(page.locator("#sessions-list li").nth(1)).to_contain_text("this device")
    expect(page.locator("#logout-all")).to_have_text("Sign out everywhere")
    expect(page.locator("#sessions-list li").nth(0)).to_contain_text("Signed in ")
