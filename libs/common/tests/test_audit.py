"""The audit logs' shared pieces: the client's keyed hash, the stored request id, one event."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

from common.audit import Event, ip_hash, stored_request_id


def test_the_ip_hash_is_the_first_16_bytes_of_the_hmac_in_hex() -> None:
    expected = hmac.new(b"key", b"203.0.113.9", hashlib.sha256).hexdigest()[:32]

    assert ip_hash(b"key", "203.0.113.9") == expected
    assert ip_hash(b"other key", "203.0.113.9") != expected
    assert ip_hash(b"key", None) is None and ip_hash(b"key", "") is None


def test_a_request_id_is_stored_up_to_64_characters() -> None:
    assert stored_request_id("r" * 128) == "r" * 64
    assert stored_request_id("abc") == "abc"
    assert stored_request_id(None) is None and stored_request_id("") is None


def test_an_event_reads_a_row_from_postgresql_and_from_sqlite_alike() -> None:
    moscow = timezone(timedelta(hours=3))
    # asyncpg: JSONB as text, an aware time in the session's zone.
    from_postgresql = Event.of_row(
        (
            7,
            datetime(2026, 12, 2, 13, 0, tzinfo=moscow),
            "ban",
            1,
            2,
            "9001234567",
            "ab",
            "r1",
            '{"reason": "spam"}',
        )
    )
    # SQLite: the JSON already decoded, a naive UTC time.
    from_sqlite = Event.of_row(
        (
            "7",
            datetime(2026, 12, 2, 10, 0),
            "ban",
            1,
            2,
            "9001234567",
            "ab",
            "r1",
            {"reason": "spam"},
        )
    )

    assert from_postgresql == from_sqlite
    assert from_postgresql.at == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert from_postgresql.at.tzinfo is UTC and from_postgresql.id == 7
    assert from_postgresql.detail == {"reason": "spam"}


def test_an_event_without_detail_has_an_empty_one_and_lists_every_field() -> None:
    event = Event.of_row(
        (1, datetime(2026, 1, 1, tzinfo=UTC), "unlock", 5, None, None, None, None, None)
    )

    assert event.detail == {}
    assert event.as_dict() == {
        "id": 1,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "type": "unlock",
        "actor_id": 5,
        "subject_id": None,
        "subject_phone": None,
        "ip_hash": None,
        "request_id": None,
        "detail": {},
    }
