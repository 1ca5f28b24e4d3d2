"""The audit log's pieces: the client's keyed hash, a refusal's detail, append-only code."""

from __future__ import annotations

from pathlib import Path

import referral_service
from common.audit import ip_hash
from referral_service import audit


def test_an_origin_keeps_at_most_64_characters_of_the_request_id() -> None:
    origin = audit.origin(b"key", "2001:db8::1", "r" * 128)

    assert origin.request_id == "r" * 64
    assert origin.ip_hash == ip_hash(b"key", "2001:db8::1")
    assert audit.origin(b"key", "2001:db8::1", None).request_id is None


def test_a_refusal_keeps_the_posted_code_only_when_it_is_text_and_cut_short() -> None:
    assert audit.refusal_detail("own_invite_code", "AbC123") == {
        "reason": "own_invite_code",
        "invite_code": "AbC123",
    }
    assert audit.refusal_detail("invalid_invite_code_format", "x" * 100)["invite_code"] == "x" * 32
    assert audit.refusal_detail("invalid_invite_code_format", 123456)["invite_code"] is None


def test_nothing_in_the_service_updates_or_deletes_an_audit_row() -> None:
    package = Path(referral_service.__file__).parent
    sources = [*package.glob("*.py"), *(package.parents[1] / "migrations").rglob("*.py")]
    assert len(sources) > 10
    for path in sources:
        source = path.read_text()
        for forbidden in (
            "update(AUDIT",
            "delete(AUDIT",
            "UPDATE audit_event",
            "DELETE FROM audit_event",
        ):
            assert forbidden not in source, f"{path}: {forbidden}"
