"""The sign-in experience in Chromium, one test per point a reviewer raised (issue 12).

Sign-ins that are not the subject of a test go through the API (tests.e2e.client) and hand the
browser its cookies, which keeps each test to a few page loads.
"""
# ruff: noqa: RUF001 - the pages speak Russian: their words have Cyrillic letters

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.e2e.client import Session, activate, new_phone, profile, sign_in
from tests.e2e.pages import CYRILLIC, PHONE, Person, request_code

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NUMBER_INPUT = "**/authentication/api_number_input/"
OTP_INPUT = "**/authentication/api_otp_input/"
PROFILE_API = "**/profile/api_profile/"
CSV = "/referral_system/api_invited_users.csv"
LATIN = re.compile(r"^[^\u0400-\u04ff]*[A-Za-z]{3}[^\u0400-\u04ff]*$")


def signed_in(person: Person, session: Session, *, access: bool = True) -> Person:
    """Gives the browser the session's cookies, as a sign-in through the pages would."""
    cookies: list[Any] = [
        {
            "name": "refresh_token",
            "value": session.refresh_token,
            "domain": "127.0.0.1",
            "path": "/authentication/",
        }
    ]
    if access:
        cookies.append(
            {
                "name": "access_token",
                "value": session.access_token,
                "domain": "127.0.0.1",
                "path": "/",
            }
        )
    person.context.add_cookies(cookies)
    return person


def to_otp_page(person: Person, phone: str) -> str:
    """Asks for a code through the page; returns the code the simulated SMS shows."""
    person.page.goto(person.url("/number_input/"))
    return request_code(person.page, phone)


def wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


class Held:
    """Requests to `pattern` wait until released: a page can be looked at mid-request."""

    def __init__(self, page: Page, pattern: str) -> None:
        self.page, self.pattern = page, pattern
        self.routes: list[Route] = []
        page.route(pattern, lambda route: self.routes.append(route))

    def release(self) -> None:
        for _ in range(250):
            if self.routes:
                break
            self.page.wait_for_timeout(20)
        assert self.routes, f"no request to {self.pattern}"
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.pattern)


def answer(page: Page, pattern: str, status: int, body: dict[str, Any], **headers: str) -> None:
    """Every request to `pattern` gets this answer instead of the server's."""
    page.unroute(pattern)
    page.route(
        pattern,
        lambda route: route.fulfill(
            status=status, body=json.dumps(body), content_type="application/json", headers=headers
        ),
    )


def paste(page: Page, selector: str, text: str) -> None:
    """A real Ctrl+V: the text goes through the clipboard, as a person's paste would."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    expect(page.locator(selector)).to_be_visible()
    page.focus(selector)
    page.keyboard.press("Control+V")


def shoot(person: Person, folder: Path, name: str) -> None:
    """Like Person.shoot, with transitions finished (a button changing colour is not half-way)."""
    person.page.screenshot(path=str(folder / f"{name}.png"), full_page=True, animations="disabled")


def luminance(css_color: str) -> float:
    channels = [int(n) for n in re.findall(r"\d+", css_color)[:3]]

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# --- 1. a dead code: said why, hidden, replaced at once; how long a code lives; waits ---------


def test_a_code_void_of_wrong_tries_is_hidden_and_replaced_at_once(
    person: Person, screenshots: Path
) -> None:
    page = person.page
    code = to_otp_page(person, new_phone())
    expect(page.locator("#otp-validity")).to_have_text(
        re.compile(r"^Код действует до \d{1,2}:\d{2} \(осталось 5 мин\)\.$")
    )
    # A resend far off, as after a long cooldown: the countdown words it as a wait.
    page.evaluate("sessionStorage.setItem('login.resendAt', String(Date.now() + 600000))")
    page.reload()
    expect(page.locator("#countdown")).to_have_text(
        re.compile(r"^Новый код можно запросить через (10 мин|9 мин \d+ с)$")
    )
    expect(page.locator("#resend")).to_be_disabled()

    for _ in range(3):
        page.fill("#otp", wrong(code))
        page.click("#otp-submit")
        expect(page.locator("#otp-submit")).to_have_attribute("aria-busy", "false")
    # The dead code and its field are gone; the resend is offered at once, and focused.
    expect(page.locator("#otp-form")).to_be_hidden()
    expect(page.locator("#dev-sms")).to_be_hidden()
    expect(page.locator("#otp-validity")).to_be_hidden()
    expect(page.locator("#error")).to_have_text(re.compile("неверно слишком много раз"))
    expect(page.locator("#countdown")).to_have_text("")
    expect(page.locator("#resend")).to_be_enabled()
    expect(page.locator("#resend")).to_be_focused()
    shoot(person, screenshots, "otp_input-dead-code")
    # The server agrees: a void code is replaced without waiting for the cooldown.
    page.click("#resend")
    expect(page.locator("#otp-form")).to_be_visible()
    expect(page.locator("#otp")).to_be_focused()
    expect(page.locator("#status")).to_be_visible()
    # The simulated SMS comes back with the new code once the inbox has it.
    expect(page.locator("#dev-sms")).to_be_visible()
    new_code = page.locator("#dev-sms-code")
    expect(new_code).to_have_text(re.compile(r"^\d{4}$"))
    page.keyboard.type(new_code.inner_text())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/profile/$"))


def test_each_reason_a_code_is_gone_is_worded_apart(
    person: Person, client: httpx.Client, open_context: Callable[..., BrowserContext]
) -> None:
    page = person.page
    phone = new_phone()
    code = to_otp_page(person, phone)
    # no_pending_login, for real: the code was used elsewhere (the same person, another device).
    used = client.post("/authentication/api_otp_input/", json={"otp": code, "phone": phone})
    assert used.status_code == 200, used.text
    page.fill("#otp", code)
    page.click("#otp-submit")
    expect(page.locator("#otp-form")).to_be_hidden()
    expect(page.locator("#error")).to_have_text(re.compile("нет действующего кода"))

    # Each reason, in each language, has words of its own.
    words: dict[tuple[str, str], str] = {}
    for lang in ("ru", "en"):
        for reason in ("expired", "attempts_exhausted", "no_pending_login"):
            page.evaluate("sessionStorage.removeItem('login.dead')")
            page.reload()
            if page.locator("html").get_attribute("lang") != lang:
                page.click("#lang-toggle")
            answer(page, OTP_INPUT, 410, {"detail": "-", "code": "otp_expired", "reason": reason})
            page.fill("#otp", "0000")
            page.click("#otp-submit")
            expect(page.locator("#otp-form")).to_be_hidden()
            expect(page.locator("#error")).to_have_text(CYRILLIC if lang == "ru" else LATIN)
            words[lang, reason] = page.locator("#error").inner_text()
            page.unroute(OTP_INPUT)
    assert len(set(words.values())) == 6, words

    # The page keeps time too: when the code runs out, it says so without being asked.
    page.evaluate("sessionStorage.removeItem('login.dead')")
    page.evaluate("sessionStorage.setItem('login.expiresAt', String(Date.now() + 1500))")
    page.reload()
    expect(page.locator("#otp-validity")).to_have_text(re.compile(r"\(1 s left\)|\(2 s left\)"))
    expect(page.locator("#otp-form")).to_be_hidden()
    expect(page.locator("#error")).to_have_text(words["en", "expired"])
    expect(page.locator("#resend")).to_be_enabled()


def test_a_refused_send_is_worded_as_a_wait(person: Person) -> None:
    page = person.page
    to_otp_page(person, new_phone())
    refusal = {"detail": "-", "code": "too_many_requests", "retry_after": 42}
    answer(page, NUMBER_INPUT, 429, refusal, **{"Retry-After": "42"})
    page.evaluate("sessionStorage.setItem('login.resendAt', '0')")
    page.reload()
    page.click("#resend")
    expect(page.locator("#countdown")).to_have_text(
        re.compile(r"^Новый код можно запросить через (42|41) с$")
    )
    expect(page.locator("#resend")).to_be_disabled()
    assert "попыток" not in page.locator("#countdown").inner_text()

    page.goto(person.url("/number_input/"))
    page.click("#phone-submit")
    expect(page.locator("#error")).to_have_text("Новый код можно запросить через 42 с.")


# --- 2. pasting ----------------------------------------------------------------------------


def test_pasting_a_whole_sms_or_a_spaced_invite_code_takes_the_code(
    open_context: Callable[..., BrowserContext], base_url: str, client: httpx.Client
) -> None:
    person = Person(open_context(permissions=["clipboard-read", "clipboard-write"]), base_url)
    page = person.page
    to_otp_page(person, new_phone())
    sms = page.locator("#dev-sms-text").inner_text()
    code = page.locator("#dev-sms-code").inner_text()
    assert len(sms) > 10 and code in sms
    paste(page, "#otp", sms)
    expect(page.locator("#otp")).to_have_value(code)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/profile/$"))

    inviter = profile(client, sign_in(client))["invite_code"]
    paste(page, "#invite-code-input", f" {inviter} ")
    expect(page.locator("#invite-code-input")).to_have_value(inviter)
    page.click("#activate-submit")
    expect(page.locator("#activated-code")).to_have_text(inviter)


# --- 3. focus, busy buttons, the signed-in visitor, language, contrast -----------------------


def test_the_first_field_of_each_page_has_focus(person: Person, client: httpx.Client) -> None:
    page = person.page
    page.goto(person.url("/number_input/"))
    expect(page.locator("#phone")).to_be_focused()
    to_otp_page(person, new_phone())
    expect(page.locator("#otp")).to_be_focused()
    signed_in(person, sign_in(client))
    page.goto(person.url("/profile/"))
    expect(page.locator("#invite-code-input")).to_be_focused()


def test_a_busy_button_shows_that_it_is_working(person: Person) -> None:
    page = person.page
    page.goto(person.url("/number_input/"))
    page.fill("#phone", new_phone())
    held = Held(page, NUMBER_INPUT)
    page.click("#phone-submit")
    submit = page.locator("#phone-submit")
    expect(submit).to_be_disabled()
    expect(submit).to_have_attribute("aria-busy", "true")
    expect(submit).to_have_text("Отправляем код…")
    held.release()
    expect(page).to_have_url(re.compile(r"/otp_input/$"))

    expect(page.locator("#dev-sms-code")).to_have_text(re.compile(r"^\d{4}$"))
    page.fill("#otp", "0000")
    held = Held(page, OTP_INPUT)
    page.click("#otp-submit")
    submit = page.locator("#otp-submit")
    expect(submit).to_have_attribute("aria-busy", "true")
    expect(submit).to_have_text("Проверяем код…")
    expect(submit).to_be_disabled()
    held.release()
    expect(submit).to_have_attribute("aria-busy", "false")
    expect(submit).to_have_text("Войти")
    expect(submit).to_be_enabled()


def test_a_signed_in_visitor_goes_from_number_input_to_the_profile_without_the_form(
    open_context: Callable[..., BrowserContext], base_url: str, client: httpx.Client
) -> None:
    person = signed_in(Person(open_context(), base_url), sign_in(client))
    page = person.page
    held = Held(page, PROFILE_API)
    page.goto(person.url("/number_input/"))
    # While the session is being checked, the form is not shown.
    expect(page.locator("#phone-form")).to_be_hidden()
    held.release()
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator("#invite-code")).to_have_text(re.compile(r"^[A-Za-z0-9]{6}$"))

    # With only the refresh cookie left (the access token expired), the same.
    other = signed_in(Person(open_context(), base_url), sign_in(client), access=False)
    other.page.goto(other.url("/number_input/"))
    expect(other.page).to_have_url(re.compile(r"/profile/$"))


def test_the_first_visit_follows_the_browser_language_and_the_switch_is_kept(
    open_context: Callable[..., BrowserContext], base_url: str
) -> None:
    english = Person(open_context(locale="en-US"), base_url).page
    english.goto(f"{base_url}/number_input/")
    expect(english.locator("html")).to_have_attribute("lang", "en")
    expect(english.locator("#heading")).to_have_text("Sign in or sign up")
    english.click("#lang-toggle")
    expect(english.locator("html")).to_have_attribute("lang", "ru")
    english.goto(f"{base_url}/otp_input/")  # no login pending: back to /number_input/
    expect(english).to_have_url(re.compile(r"/number_input/$"))
    expect(english.locator("#heading")).to_have_text("Вход и регистрация")

    for locale in ("ru-RU", "de-DE"):
        page = Person(open_context(locale=locale), base_url).page
        page.goto(f"{base_url}/number_input/")
        expect(page.locator("html")).to_have_attribute("lang", "ru")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_field_borders_reach_3_to_1(
    open_context: Callable[..., BrowserContext], base_url: str, scheme: str
) -> None:
    page = Person(open_context(color_scheme=scheme), base_url).page
    page.goto(f"{base_url}/number_input/")
    expect(page.locator("#phone")).to_be_visible()
    colors = page.evaluate(
        """() => {
          const style = (selector, property) =>
            getComputedStyle(document.querySelector(selector)).getPropertyValue(property);
          return {
            border: style("#phone", "border-top-color"),
            field: style("#phone", "background-color"),
            card: style(".card", "background-color"),
            page: style("body", "background-color"),
          };
        }"""
    )
    for background in ("field", "card", "page"):
        ratio = contrast(colors["border"], colors[background])
        assert ratio >= 3, (scheme, background, colors, round(ratio, 2))


# --- 4 and 5. activation, the invitee list, the CSV ------------------------------------------


def test_an_activation_names_the_code(person: Person, client: httpx.Client) -> None:
    inviter = profile(client, sign_in(client))["invite_code"]
    signed_in(person, sign_in(client))
    page = person.page
    page.goto(person.url("/profile/"))
    page.fill("#invite-code-input", inviter)
    page.click("#activate-submit")
    expect(page.locator("#activate-status")).to_have_text(
        f"Готово: инвайт-код {inviter} активирован."
    )
    page.click("#lang-toggle")
    expect(page.locator("#activate-status")).to_have_text(
        f"Done: the invite code {inviter} is activated."
    )


def test_the_invitee_list_sums_up_masks_phones_and_offers_the_csv(
    open_context: Callable[..., BrowserContext],
    base_url: str,
    client: httpx.Client,
    screenshots: Path,
) -> None:
    inviter = sign_in(client)
    code = profile(client, inviter)["invite_code"]
    invitees = [sign_in(client) for _ in range(2)]
    for invitee in invitees:
        assert activate(client, invitee, code).status_code == 200
    newest = invitees[-1]

    person = signed_in(Person(open_context(accept_downloads=True), base_url), inviter)
    page = person.page
    page.goto(person.url("/profile/"))
    expect(page.locator("#invited-summary")).to_have_text(
        re.compile(r"^2 приглашённых, последний — .+\d{2}:\d{2}\.$")
    )
    rows = page.locator("#invited-list li")
    expect(rows).to_have_count(2)
    row = page.locator(f'#invited-list li[data-phone="{newest.phone}"]')
    assert rows.first.get_attribute("data-phone") == newest.phone  # newest first
    masked = f"+7 {newest.phone[:3]} ***-**-{newest.phone[-2:]}"
    whole = f"+7 {newest.phone[:3]} {newest.phone[3:6]}-{newest.phone[6:8]}-{newest.phone[8:]}"
    phone = row.locator(".person-phone")
    expect(phone).to_have_text(masked)
    expect(page.locator("#invited-list")).not_to_contain_text(newest.phone[3:6] + "-")

    reveal = row.get_by_role("button", name="Показать номер")
    expect(reveal).to_have_attribute("aria-pressed", "false")
    reveal.click()
    expect(reveal).to_have_attribute("aria-pressed", "true")
    expect(phone).to_have_text(whole)
    # Only that row: the other stays masked.
    expect(rows.nth(1).locator(".person-phone")).to_have_text(re.compile(r"\*\*\*-\*\*-\d{2}$"))
    reveal.focus()
    page.keyboard.press("Space")
    expect(reveal).to_have_attribute("aria-pressed", "false")
    expect(phone).to_have_text(masked)

    csv = page.locator("#invited-csv")
    expect(csv).to_be_visible()
    expect(csv).to_have_attribute("href", CSV)
    with page.expect_download() as download:
        csv.click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,phone,activated_at"
    assert [line.split(",")[1] for line in lines[1:]] == [i.phone for i in reversed(invitees)]

    shoot(person, screenshots, "profile-invitees-desktop")
    phone_view = signed_in(
        Person(open_context(viewport=PHONE, is_mobile=True, has_touch=True), base_url), inviter
    )
    phone_view.page.goto(phone_view.url("/profile/"))
    expect(phone_view.page.locator("#invited-summary")).to_be_visible()
    shoot(phone_view, screenshots, "profile-invitees-phone")

    # Someone with nobody invited has no summary and nothing to download.
    alone = signed_in(Person(open_context(), base_url), invitees[0])
    alone.page.goto(alone.url("/profile/"))
    expect(alone.page.locator("#invited-empty")).to_be_visible()
    expect(alone.page.locator("#invited-summary")).to_be_hidden()
    expect(alone.page.locator("#invited-csv")).to_be_hidden()
