"""referral.activated through the outbox: written by the activation's own transaction, only
for an activation that happened, and delivered signed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select

from common.db.urls import sync_url
from common.tokens import StaticKeySource
from referral_service.config import ReferralSettings
from referral_service.main import create_app
from referral_service.models import WEBHOOK_OUTBOX
from services.referral.tests.conftest import phone_of
from testkit.webhook_receiver import WebhookReceiver, new_secret

pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)

SECRET = new_secret()


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    """Events written, none delivered (a worker would): the table shows what was written."""
    return make_settings(
        webhook_url="http://127.0.0.1:9/unused", webhook_secret=SECRET, webhook_delivery="worker"
    )


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(WEBHOOK_OUTBOX.c.event_type, WEBHOOK_OUTBOX.c.data, WEBHOOK_OUTBOX.c.occurred_at)
        ).all()
    return [{"type": t, "data": json.loads(d), "occurred_at": o} for t, d, o in rows]


def test_an_activation_writes_its_event(
    activate: Callable[[int, object], httpx.Response],
    code_of: Callable[[int], str],
    engine: Engine,
) -> None:
    code = code_of(1)
    response = activate(2, code)
    assert response.status_code == 200, response.text

    (event,) = events(engine)
    assert event["type"] == "referral.activated"
    assert event["data"] == {
        "invitee": {"id": 2, "phone": phone_of(2)},
        "inviter": {"id": 1, "phone": phone_of(1)},
        "invite_code": code,
        "activated_at": event["data"]["activated_at"],
    }
    activated_at = datetime.fromisoformat(event["data"]["activated_at"])
    assert activated_at == datetime.fromisoformat(response.json()["activated_at"])


def test_refusals_and_repeats_write_no_event(
    activate: Callable[[int, object], httpx.Response],
    code_of: Callable[[int], str],
    engine: Engine,
) -> None:
    first, second = code_of(1), code_of(2)
    assert activate(1, "zzzzzz").status_code != 200  # unknown
    assert activate(1, first).status_code != 200  # own code
    assert activate(2, first).status_code == 200  # the one activation
    assert activate(2, first).status_code == 200  # a repeat
    assert activate(2, code_of(3)).status_code != 200  # already activated
    assert activate(1, second).status_code != 200  # a cycle

    assert [event["data"]["invitee"]["id"] for event in events(engine)] == [2]


def test_without_webhooks_no_event_is_written(
    make_settings: Callable[..., ReferralSettings],
    jwks: dict[str, Any],
    bearer: Callable[[int], dict[str, str]],
    database_url: str,
) -> None:
    with TestClient(create_app(make_settings(), key_source=StaticKeySource(jwks))) as client:
        code = client.get("/internal/referral/profile", headers=bearer(1)).json()["invite_code"]
        response = client.post(
            "/referral_system/api_invite_code_activation/",
            json={"invite_code": code},
            headers=bearer(2),
        )
        assert response.status_code == 200, response.text
    engine = create_engine(sync_url(database_url))
    try:
        assert events(engine) == []
    finally:
        engine.dispose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def test_the_event_is_delivered_signed_from_the_service_itself(
    make_settings: Callable[..., ReferralSettings],
    jwks: dict[str, Any],
    bearer: Callable[[int], dict[str, str]],
    receiver: WebhookReceiver,
) -> None:

    settings = make_settings(webhook_url=receiver.url, webhook_secret=SECRET)
    with TestClient(create_app(settings, key_source=StaticKeySource(jwks))) as client:
        code = client.get("/internal/referral/profile", headers=bearer(1)).json()["invite_code"]
        response = client.post(
            "/referral_system/api_invite_code_activation/",
            json={"invite_code": code},
            headers=bearer(2),
        )
        assert response.status_code == 200, response.text
        receiver.wait_for(lambda r: len(r.events()) == 1, timeout=10)

    (request,) = receiver.received
    assert request.verified
    payload = request.payload()
    assert payload["type"] == "referral.activated"
    assert payload["data"]["invitee"] == {"id": 2, "phone": phone_of(2)}
    assert payload["data"]["inviter"] == {"id": 1, "phone": phone_of(1)}
    assert payload["timestamp"] == payload["data"]["activated_at"]
