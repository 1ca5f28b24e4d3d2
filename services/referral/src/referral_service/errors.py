"""The referral rules' failures, each with its stable code from the public contract."""

from __future__ import annotations

from common.errors import AppError

# What a malformed invite code is answered with (422, by the body's validation).
INVALID_INVITE_CODE_FORMAT = "invalid_invite_code_format"


class InviteCodeNotFound(AppError):
    status_code = 404
    code = "invite_code_not_found"
    detail = "No user has this invite code."


class OwnInviteCode(AppError):
    status_code = 409
    code = "own_invite_code"
    detail = "You cannot activate your own invite code."


class InviteCodeAlreadyActivated(AppError):
    status_code = 409
    code = "invite_code_already_activated"
    detail = "You have already activated an invite code."

    def __init__(self, activated_invite_code: str) -> None:
        super().__init__(activated_invite_code=activated_invite_code)


class ReferralCycle(AppError):
    status_code = 409
    code = "referral_cycle"
    detail = "This code belongs to someone you invited, directly or through others."


class InvalidCursor(AppError):
    status_code = 422
    code = "invalid_cursor"
    detail = "The cursor is not valid; start again from the first page."


class InvalidLimit(AppError):
    status_code = 422
    code = "invalid_limit"

    def __init__(self, maximum: int) -> None:
        super().__init__(f"limit must be an integer from 1 to {maximum}.", maximum=maximum)


class MemberNotFound(AppError):
    status_code = 404
    code = "member_not_found"
    detail = "The referral service has never seen this user."


class InviteCodesExhausted(RuntimeError):
    """Every draw collided: the code space is nearly full or the generator is broken."""
