"""Outgoing webhooks signed per the Standard Webhooks spec (https://www.standardwebhooks.com/).

Every message carries `webhook-id` (the same on every retry of it), `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. Secrets are written as the
spec's `whsec_<base64>`; the signing itself is the spec's reference library.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook


def new_message_id() -> str:
    return f"msg_{secrets.token_urlsafe(18)}"


def signed_headers(secret: str, *, message_id: str, body: str, sent_at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent now as message `message_id`."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
    }


def encode(payload: dict[str, Any]) -> str:
    """The body: compact JSON; the receiver verifies the signature over these exact bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    secret: str,
    payload: dict[str, Any],
    message_id: str | None = None,
) -> httpx.Response:
    """POST one signed message; the caller decides what a failure means."""
    body = encode(payload)
    headers = signed_headers(
        secret,
        message_id=message_id or new_message_id(),
        body=body,
        sent_at=datetime.now(UTC),
    )
    return await client.post(
        url,
        content=body.encode(),
        headers={**headers, "content-type": "application/json"},
    )
