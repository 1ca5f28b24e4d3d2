"""The growth journey in Chromium, in both run modes, with a webhook receiver that is down for
30 seconds: A shares a link, B follows it and signs up, B's profile already shows A's code
activated, A's profile lists B and counts the visit and the activation, and the receiver,
once back, gets exactly one correctly signed event of each kind for B's sign-up and
activation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from testkit.webhook_receiver import WebhookReceiver
from tests.e2e.client import new_phone
from tests.e2e.pages import sign_in_through_pages

from .test_journey import activated, registered

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1280, "height": 800}
RECEIVER_DOWN_SECONDS = 30


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Two people, each with a browser profile of their own."""
    opened = [browser.new_context(viewport=DESKTOP, locale="ru-RU") for _ in range(2)]
    yield opened
    for context in opened:
        context.close()


@dataclass(frozen=True)
class Someone:
    """Who a person is, as the events name them."""

    user_id: int
    phone: str


def the_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, events
    return events[0]


def test_a_shared_link_brings_a_friend_who_lands_activated_and_both_ends_see_it(
    base_url: str, receiver: WebhookReceiver, contexts: list[BrowserContext]
) -> None:
    alice_page, bob_page = (context.new_page() for context in contexts)

    # A signs up through the pages and reads the share link off the profile.
    alice_phone = new_phone()
    alice_page.goto(f"{base_url}/number_input/")
    sign_in_through_pages(alice_page, alice_phone)
    share_url = alice_page.locator("#share-url")
    expect(share_url).to_have_text(re.compile(r"/i/[A-Za-z0-9]{6}$"))
    link = share_url.inner_text()
    alice_code = link.rsplit("/", 1)[1]
    assert link == f"{base_url}/i/{alice_code}"

    # The receiver goes down before B arrives: B's events wait in the outbox.
    receiver.stop()
    try:
        # B opens the link: the invite is shown and kept through sign-up.
        bob_phone = new_phone()
        bob_page.goto(link)
        expect(bob_page).to_have_url(re.compile(rf"/number_input/\?invite={alice_code}$"))
        expect(bob_page.locator("#invite-banner")).to_contain_text(alice_code)
        sign_in_through_pages(bob_page, bob_phone)
        # B lands on a profile that already shows A's code activated.
        expect(bob_page.locator("#activated-code")).to_have_text(alice_code)
        expect(bob_page.locator("#activate-status")).to_contain_text(alice_code)
        down_since = time.monotonic()

        # A's profile lists B (phone masked), and the funnel counts B's visit and activation.
        alice_page.reload()
        expect(alice_page.locator("#invited-count")).to_have_text("1")
        expect(alice_page.locator("#invited-list")).to_contain_text(f"-{bob_phone[-2:]}")
        expect(alice_page.locator("#stats-visits")).to_have_text("1")
        expect(alice_page.locator("#stats-unique")).to_have_text("1")
        expect(alice_page.locator("#stats-activations")).to_have_text("1")
        expect(alice_page.locator("#stats-conversion")).to_have_text(re.compile(r"^100\s?%$"))

        time.sleep(max(0.0, RECEIVER_DOWN_SECONDS - (time.monotonic() - down_since)))
    finally:
        receiver.start()

    alice = Someone(int(alice_page.locator("#user-id").inner_text()), alice_phone)
    bob = Someone(int(bob_page.locator("#user-id").inner_text()), bob_phone)
    receiver.wait_for(
        lambda r: len(activated(r, bob)) == 1 and len(registered(r, bob)) == 1, timeout=30
    )
    assert all(request.verified for request in receiver.received)
    event = the_event(activated(receiver, bob))
    assert event["type"] == "referral.activated"
    assert event["data"]["inviter"] == {"id": alice.user_id, "phone": alice.phone}
    assert event["data"]["invite_code"] == alice_code
    assert the_event(registered(receiver, bob))["data"]["phone"] == bob_phone
    # Each event was delivered once, under one webhook-id, however long the receiver was away.
    ids = [r.webhook_id for r in receiver.accepted() if r.payload()["data"] == event["data"]]
    assert len(ids) == 1, ids
