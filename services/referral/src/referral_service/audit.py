"""The audit log: what happened, to whom, from which client (a keyed hash) and in which request.

The referral service writes `activation.succeeded` (actor and subject: the invitee; detail:
the code and the inviter) and `activation.refused` (detail: the error code answered and the
code as posted). The client and the request are recorded as auth records them
(`common.audit`: a keyed hash of the IP address, the request id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.audit import ip_hash, stored_request_id

ACTIVATION_SUCCEEDED = "activation.succeeded"
ACTIVATION_REFUSED = "activation.refused"
TYPES = (ACTIVATION_SUCCEEDED, ACTIVATION_REFUSED)

# A refused code is stored as posted, up to this many characters (a code has 6).
POSTED_CODE_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as its audit rows record it."""

    ip_hash: str | None = None
    request_id: str | None = None


def origin(key: bytes, client: str, request_id: str | None) -> Origin:
    return Origin(
        ip_hash=ip_hash(key, client),
        request_id=stored_request_id(request_id),
    )


def refusal_detail(reason: str, invite_code: Any) -> dict[str, Any]:
    """`activation.refused`'s detail: the error code answered and the code as posted."""
    posted = invite_code[:POSTED_CODE_LENGTH] if isinstance(invite_code, str) else None
    return {"reason": reason, "invite_code": posted}
