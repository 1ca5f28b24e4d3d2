"""Sign-in by phone and one-time code, token refresh and logout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.orm import Session

from auth_service import repository
from auth_service.config import AuthSettings
from auth_service.errors import (
    InvalidOtp,
    InvalidOtpFormat,
    InvalidPhone,
    InvalidRefreshToken,
    NoSms,
    OtpExpired,
    SmsUnavailable,
)
from auth_service.otp import (
    OtpStore,
    Outcome,
    generate_code,
    is_well_formed_code,
    new_login_id,
)
from auth_service.phones import normalize_phone
from auth_service.ratelimit import SendLimiter, rate_limit_subject
from auth_service.repository import UserRecord
from auth_service.sms import DevSmsInbox, SimulatedSms, SmsBackend, SmsDeliveryError
from auth_service.tokens import (
    AccessToken,
    AccessTokens,
    IssuedRefresh,
    RefreshRejected,
    RefreshTokens,
)
from common.errors import NotAuthenticated, TooManyRequests
from common.security import RevocationList, TokenVerifier

logger = logging.getLogger(__name__)

CODES_SENT = Counter("auth_otp_sent_total", "One-time codes sent")
CODE_CHECKS = Counter("auth_otp_checks_total", "One-time code checks", ["outcome"])
LOCKED_DETAIL = "Too many wrong codes: sign-in for this phone is locked for a while."


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Everything the service functions use besides the database session; one per app."""

    settings: AuthSettings
    otps: OtpStore
    limiter: SendLimiter
    sms: SmsBackend
    inbox: DevSmsInbox
    access_tokens: AccessTokens
    refresh_tokens: RefreshTokens
    verifier: TokenVerifier
    revocations: RevocationList


@dataclass(frozen=True, slots=True)
class PendingLogin:
    phone: str
    login_id: str
    otp_length: int
    expires_in: int
    resend_in: int


@dataclass(frozen=True, slots=True)
class Grant:
    """What a sign-in or a refresh hands out."""

    access: AccessToken
    refresh: IssuedRefresh
    user: UserRecord
    is_new_user: bool = False


def sms_text(code: str) -> str:
    return f"Код для входа: {code}. Никому его не сообщайте."  # noqa: RUF001 - Russian text


def start_login(ctx: AuthContext, *, phone: str, client: str) -> PendingLogin:
    """Send a new code to `phone`, voiding the previous one; the same for known and new phones."""
    settings = ctx.settings
    login_id = new_login_id()
    reservation = ctx.limiter.reserve(
        phone=phone, client=rate_limit_subject(client), send_id=login_id
    )
    if reservation.locked:
        raise TooManyRequests(reservation.retry_after, LOCKED_DETAIL)
    if not reservation.allowed:
        raise TooManyRequests(reservation.retry_after)
    code = generate_code(settings.otp_length)
    text = sms_text(code)
    sent_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    simulated = SimulatedSms(phone=phone, code=code, text=text, sent_at=sent_at)
    ctx.otps.start(
        login_id=login_id,
        phone=phone,
        code=code,
        sms=simulated if settings.dev_sms_inbox else None,
    )
    try:
        ctx.sms.send(phone, text)
    except SmsDeliveryError:
        logger.exception("sms delivery failed")
        ctx.otps.void(login_id=login_id, phone=phone)
        raise SmsUnavailable() from None
    CODES_SENT.inc()
    return PendingLogin(
        phone=phone,
        login_id=login_id,
        otp_length=settings.otp_length,
        expires_in=settings.otp_ttl_seconds,
        resend_in=settings.otp_resend_cooldown_seconds,
    )


def _normalized(phone: str) -> str:
    normalized = normalize_phone(phone)
    if normalized is None:
        raise InvalidPhone()
    return normalized


def _pending_login(
    ctx: AuthContext, *, login_id: str | None, phone: str | None, cookie_login_id: str | None
) -> tuple[str | None, str]:
    """(login id or None, phone) of the login the caller names.

    What the body says wins over the cookie a browser may still hold from an earlier attempt.
    """
    if not login_id and phone is not None:
        normalized = _normalized(phone)
        return ctx.otps.login_of(normalized), normalized
    login_id = login_id or cookie_login_id
    if not login_id:
        raise OtpExpired("No sign-in is pending. Request a code first.")
    owner = ctx.otps.phone_of(login_id)
    if owner is None:
        raise OtpExpired()
    return login_id, owner


def complete_login(
    ctx: AuthContext,
    session: Session,
    *,
    code: str,
    login_id: str | None,
    phone: str | None,
    cookie_login_id: str | None,
) -> Grant:
    """Check the code of a pending login; on success register the phone if new and sign in."""
    if not is_well_formed_code(code, ctx.settings.otp_length):
        raise InvalidOtpFormat(f"The code is {ctx.settings.otp_length} digits.")
    login_id, phone = _pending_login(
        ctx, login_id=login_id, phone=phone, cookie_login_id=cookie_login_id
    )
    if login_id is None:
        locked_for = ctx.otps.lock_seconds_left(phone)
        if locked_for:
            raise TooManyRequests(locked_for, LOCKED_DETAIL)
        raise OtpExpired()
    verification = ctx.otps.verify(login_id=login_id, phone=phone, code=code)
    CODE_CHECKS.labels(verification.outcome.value).inc()
    match verification.outcome:
        case Outcome.WRONG:
            raise InvalidOtp(attempts_left=verification.attempts_left)
        case Outcome.EXPIRED:
            raise OtpExpired()
        case Outcome.LOCKED:
            raise TooManyRequests(verification.retry_after, LOCKED_DETAIL)
    sign_in = repository.record_sign_in(session, phone=phone)
    refresh = ctx.refresh_tokens.start_family(user_id=sign_in.user.id, phone=phone)
    access = ctx.access_tokens.issue(
        user_id=sign_in.user.id, phone=phone, session_id=refresh.family_id
    )
    return Grant(access=access, refresh=refresh, user=sign_in.user, is_new_user=sign_in.is_new)


def refresh_tokens(ctx: AuthContext, *, refresh_token: str | None) -> Grant:
    """Rotate the refresh token; a retired one revokes its whole login."""
    if not refresh_token:
        raise InvalidRefreshToken("No refresh token was sent.")
    try:
        refresh = ctx.refresh_tokens.rotate(refresh_token)
    except RefreshRejected as rejected:
        if rejected.reused:
            logger.warning("a rotated refresh token was reused; its login is revoked")
        raise InvalidRefreshToken() from None
    access = ctx.access_tokens.issue(
        user_id=refresh.user_id, phone=refresh.phone, session_id=refresh.family_id
    )
    return Grant(
        access=access, refresh=refresh, user=UserRecord(id=refresh.user_id, phone=refresh.phone)
    )


def logout(ctx: AuthContext, *, access_token: str | None, refresh_token: str | None) -> None:
    """Revoke whatever the caller holds: the access token and its login, the refresh token's login.

    Idempotent: credentials that are already invalid are ignored.
    """
    families: set[str] = set()
    if refresh_token:
        family_id = ctx.refresh_tokens.family_of(refresh_token)
        if family_id:
            families.add(family_id)
    if access_token:
        try:
            principal = ctx.verifier.verify(access_token)
        except NotAuthenticated:
            principal = None
        if principal is not None:
            ctx.revocations.revoke(principal.jti, expires_at=principal.expires_at)
            if principal.session_id:
                families.add(principal.session_id)
    for family_id in families:
        ctx.refresh_tokens.revoke_family(family_id)


def latest_sms(ctx: AuthContext, *, phone: str) -> SimulatedSms:
    sms = ctx.inbox.latest(_normalized(phone))
    if sms is None:
        raise NoSms()
    return sms


def current_user(session: Session, *, user_id: int) -> UserRecord:
    user = repository.get_user(session, user_id)
    if user is None:
        raise NotAuthenticated("The user of this token does not exist.")
    return user
