"""The invitee list's opaque cursor: URL-safe base64 of the keyset position (time, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from referral_service.errors import InvalidCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR_LENGTH = 64


def encode_cursor(activated_at: datetime, invitee_id: int) -> str:
    micros = (activated_at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([micros, invitee_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The keyset position in a cursor made by encode_cursor; InvalidCursor for anything else."""
    if not cursor.isascii() or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        micros, invitee_id = json.loads(raw)
        if not (_is_bigint(micros) and _is_bigint(invitee_id)):
            raise ValueError("cursor fields must be 64-bit integers")
        return _EPOCH + timedelta(microseconds=micros), invitee_id
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise InvalidCursor() from None


def _is_bigint(value: object) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63
