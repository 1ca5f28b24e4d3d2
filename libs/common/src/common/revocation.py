"""Revoked login sessions: the one Redis key every service checks before trusting a token.

The auth service writes `auth:revoked_session:{sid}` when a session ends before its tokens do
(logout, a reused refresh token, a revoked session, a ban), for as long as an access token of
that session could still be valid. Every service that accepts a token reads it, most in the same
round trip as the rest of what the request needs.
"""

from __future__ import annotations

REVOKED_SESSION_KEY = "auth:revoked_session:{sid}"
REVOKED_DETAIL = "The session of this access token has ended. Sign in again."


def revoked_session_key(session_id: str) -> str:
    return REVOKED_SESSION_KEY.format(sid=session_id)
