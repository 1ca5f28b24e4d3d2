"""A person in a browser and the steps through the sign-in pages they take (shared by the
browser tests here and in tests.webhooks)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
CYRILLIC = re.compile("[\u0400-\u04ff]")


class Person:
    """One browser profile (its own cookies), collecting every console error it sees."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def shoot(self, folder: Path, name: str) -> None:
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def request_code(page: Page, phone: str) -> str:
    """On the number page: sends the phone; returns the code the simulated SMS shows."""
    page.fill("#phone", phone)
    page.click("#phone-submit")
    expect(page).to_have_url(re.compile(r"/otp_input/$"))
    code = page.locator("#dev-sms-code")
    expect(code).to_have_text(re.compile(r"^\d{4}$"))
    return code.inner_text()


def sign_in_through_pages(page: Page, phone: str) -> None:
    """From the number page it is on, through the simulated SMS, to the profile."""
    expect(page).to_have_url(re.compile(r"/number_input/"))
    page.fill("#otp", request_code(page, phone))
    page.click("#otp-submit")
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator("#user-phone")).to_have_attribute("data-phone", phone)
