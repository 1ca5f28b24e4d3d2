"""Sign-ups and an activation through the public API, in both run modes: the receiver gets one
correctly signed user.registered per new user and one referral.activated, and a receiver that
is down for a while still gets the events, with their webhook-ids unchanged."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from testkit.webhook_receiver import WebhookReceiver
from tests.e2e.client import Session, activate, profile, sign_in

from .conftest import STACK_WORKER_PORTS


def registered(receiver: WebhookReceiver, user: Session) -> list[dict[str, Any]]:
    """The user's user.registered events (the phone tells apart the users of both modes)."""
    return [
        e
        for e in receiver.events("user.registered")
        if (e["data"]["id"], e["data"]["phone"]) == (user.user_id, user.phone)
    ]


def activated(receiver: WebhookReceiver, invitee: Session) -> list[dict[str, Any]]:
    return [
        e
        for e in receiver.events("referral.activated")
        if e["data"]["invitee"] == {"id": invitee.user_id, "phone": invitee.phone}
    ]


def journey_delivered(receiver: WebhookReceiver, inviter: Session, invitee: Session) -> bool:
    """Both users' user.registered and the invitee's referral.activated, one of each."""
    return (
        len(registered(receiver, inviter)) == 1
        and len(registered(receiver, invitee)) == 1
        and len(activated(receiver, invitee)) == 1
    )


def test_sign_ups_and_an_activation_send_one_signed_event_each(
    base_url: str, receiver: WebhookReceiver
) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        inviter = sign_in(client)
        invitee = sign_in(client)
        sign_in(client, invitee.phone)  # signing in again is no registration
        code = profile(client, inviter)["invite_code"]
        response = activate(client, invitee, code)
        assert response.status_code == 200, response.text
        assert activate(client, invitee, code).status_code == 200  # a repeat

    receiver.wait_for(lambda r: journey_delivered(r, inviter, invitee), timeout=30)
    assert all(request.verified for request in receiver.received)
    (event,) = registered(receiver, invitee)
    assert event["data"] == {
        "id": invitee.user_id,
        "phone": invitee.phone,
        "created_at": event["timestamp"],
    }
    (event,) = activated(receiver, invitee)
    data = dict(event["data"])
    activated_at = data.pop("activated_at")
    assert data == {
        "invitee": {"id": invitee.user_id, "phone": invitee.phone},
        "inviter": {"id": inviter.user_id, "phone": inviter.phone},
        "invite_code": code,
    }
    assert datetime.fromisoformat(activated_at) == datetime.fromisoformat(
        response.json()["activated_at"]
    )
    assert event["timestamp"] == activated_at
    requests = [r for r in receiver.received if r.payload()["data"].get("phone") == invitee.phone]
    assert len({r.webhook_id for r in requests}) == 1


def test_a_receiver_that_was_down_gets_the_events_with_the_same_ids(
    base_url: str, receiver: WebhookReceiver
) -> None:
    receiver.stop()
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            inviter = sign_in(client)
            invitee = sign_in(client)
            code = profile(client, inviter)["invite_code"]
            assert activate(client, invitee, code).status_code == 200
    finally:
        receiver.start()

    receiver.wait_for(
        lambda r: len(registered(r, invitee)) == 1 and len(activated(r, invitee)) == 1,
        timeout=30,
    )
    ids = {
        r.webhook_id
        for r in receiver.received
        if r.payload()["type"] == "referral.activated"
        and r.payload()["data"]["invitee"]["phone"] == invitee.phone
    }
    assert len(ids) == 1


def worker_pid(service: str, port: int) -> int | None:
    """The stack's delivery worker of `service`, by its command and WEBHOOK_WORKER_PORT."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{service}_service.webhook_worker".encode() in command and (
            f"WEBHOOK_WORKER_PORT={port}".encode() in environ
        ):
            return int(entry.name)
    return None


def test_the_stack_restarts_a_killed_worker_and_no_event_is_lost(
    stack: str, receiver: WebhookReceiver
) -> None:
    port = STACK_WORKER_PORTS["referral"]
    killed = worker_pid("referral", port)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    with httpx.Client(base_url=stack, timeout=10) as client:
        inviter = sign_in(client)
        invitee = sign_in(client)
        code = profile(client, inviter)["invite_code"]
        assert activate(client, invitee, code).status_code == 200

    receiver.wait_for(lambda r: len(activated(r, invitee)) == 1, timeout=60)
    restarted = worker_pid("referral", port)
    assert restarted is not None and restarted != killed
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
