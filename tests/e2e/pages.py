"""Steps through the sign-in pages, as a person takes them (shared by the browser tests here and
in tests.webhooks)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


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
