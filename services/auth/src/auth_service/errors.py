"""The auth service's failures, each with the status and code the contract gives it."""

from __future__ import annotations

from common.errors import AppError


class InvalidPhone(AppError):
    status_code = 422
    code = "invalid_phone"
    detail = "Enter a phone number of 10 digits, e.g. 9991234567."


class InvalidOtpFormat(AppError):
    status_code = 422
    code = "invalid_otp_format"
    detail = "The code is not in the expected format."


class InvalidOtp(AppError):
    status_code = 400
    code = "invalid_otp"
    detail = "The code is wrong."

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__(attempts_left=attempts_left)


class OtpExpired(AppError):
    """No usable code: `reason` says why (expired, attempts_exhausted, no_pending_login)."""

    status_code = 410
    code = "otp_expired"
    _DETAILS = {
        "expired": "The code has expired. Request a new one.",
        "attempts_exhausted": "Too many wrong tries: this code no longer works. Request a new one.",
        "no_pending_login": "No sign-in is pending. Request a code first.",
    }

    def __init__(self, *, reason: str) -> None:
        super().__init__(self._DETAILS.get(reason), reason=reason)


class InvalidRefreshToken(AppError):
    status_code = 401
    code = "invalid_refresh_token"
    detail = "The refresh token is not valid. Sign in again."


class NoSms(AppError):
    status_code = 404
    code = "no_sms"
    detail = "No simulated SMS with a valid code for this phone."


class SmsUnavailable(AppError):
    status_code = 503
    code = "sms_unavailable"
    detail = "The code could not be sent. Try again later."


class SessionNotFound(AppError):
    status_code = 404
    code = "session_not_found"
    detail = "You have no such session (it may have ended already)."


class UserBanned(AppError):
    """A correct code for a user under a ban: `banned_until` is its end, null for none."""

    status_code = 403
    code = "user_banned"
    detail = "This account is banned."

    def __init__(self, *, banned_until: str | None) -> None:
        super().__init__(banned_until=banned_until)


class UserNotFound(AppError):
    status_code = 404
    code = "user_not_found"
    detail = "No such user."


class InvalidQuery(AppError):
    status_code = 422
    code = "invalid_query"
    detail = "Search by a phone number (or its first digits) or a user id."


class InvalidCursor(AppError):
    status_code = 422
    code = "invalid_cursor"
    detail = "The cursor is not valid; start from the first page."


class InvalidBan(AppError):
    status_code = 422
    code = "invalid_ban"
    detail = "A ban needs a reason and, if it ends, an end in the future."


class CannotBanSelf(AppError):
    status_code = 409
    code = "cannot_ban_self"
    detail = "You cannot ban your own account."


class InvalidType(AppError):
    status_code = 422
    code = "invalid_type"
    detail = "No audit events have this type."
