"""What the two audit logs share: how a client and a request are recorded, and one event as read.

Auth and referral each keep an append-only `audit_event` table with the same columns. A client
stands for itself by HMAC-SHA-256 of its IP address under AUDIT_HASH_KEY, the first 16 bytes
in hex: both services hash with the same key, so one address hashes alike in either's rows,
and the address itself is never stored. A request stands for itself by its request id, cut to
what the column holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

IP_HASH_BYTES = 16
REQUEST_ID_LENGTH = 64


def ip_hash(key: bytes, ip: str | None) -> str | None:
    """Hex of the first 16 bytes of HMAC-SHA-256(key, ip); None without an address."""
    if not ip:
        return None
    return hmac.new(key, ip.encode(), hashlib.sha256).digest()[:IP_HASH_BYTES].hex()


def stored_request_id(request_id: str | None) -> str | None:
    """The request id as an audit row stores it (at most REQUEST_ID_LENGTH characters)."""
    return request_id[:REQUEST_ID_LENGTH] if request_id else None


@dataclass(frozen=True, slots=True)
class Event:
    """One stored audit event, as either service reads it back."""

    id: int
    at: datetime
    type: str
    actor_id: int | None
    subject_id: int | None
    subject_phone: str | None
    ip_hash: str | None
    request_id: str | None
    detail: dict[str, Any]

    @classmethod
    def of_row(cls, values: Sequence[Any]) -> Event:
        """An event from a row of every `audit_event` column in table order.

        asyncpg hands JSONB over as text and SQLite gives naive times; both are normalised.
        """
        id_, at, type_, actor_id, subject_id, subject_phone, hashed, request_id, detail = values
        if isinstance(detail, str):
            detail = json.loads(detail)
        return cls(
            id=int(id_),
            at=at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC),
            type=type_,
            actor_id=actor_id,
            subject_id=subject_id,
            subject_phone=subject_phone,
            ip_hash=hashed,
            request_id=request_id,
            detail=dict(detail or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (the detail not copied)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
