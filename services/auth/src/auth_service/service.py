"""Sign-in by phone and one-time code, token refresh, logout and the caller's sessions.

Each leaves its audit event (`audit`): a sign-in's is written by its own statement, the others
cost one INSERT each. A user under a ban is refused after a correct code, never before, so the
number input answers alike for everyone.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service import audit, repository
from auth_service.audit import AuditLog, Entry
from auth_service.client_ip import rate_limit_subject
from auth_service.config import AuthSettings
from auth_service.errors import (
    InvalidOtp,
    InvalidOtpFormat,
    InvalidPhone,
    InvalidRefreshToken,
    NoSms,
    OtpExpired,
    SessionNotFound,
    SmsUnavailable,
    UserBanned,
)
from auth_service.otp import (
    OtpStore,
    Outcome,
    SendOutcome,
    generate_code,
    is_well_formed_code,
    looks_like_login_id,
)
from auth_service.phones import normalize_phone
from auth_service.repository import UserRecord
from auth_service.sessions import IssuedRefresh, RefreshRejected, Sessions, SignInBarred
from auth_service.sms import DevSmsInbox, SmsBackend, SmsDeliveryError, SmsMessage
from auth_service.tokens import AccessToken, AccessTokens
from common.errors import NotAuthenticated, TooManyRequests
from common.tokens import Principal, TokenVerifier

logger = logging.getLogger(__name__)

CODES_SENT = Counter("auth_otp_sent_total", "One-time codes sent")
CODE_CHECKS = Counter("auth_otp_checks_total", "One-time code checks", ["outcome"])
LOCKED_DETAIL = "Too many wrong codes: sign-in for this phone is locked for a while."
WRONG_CODES_DETAIL = "Too many wrong codes from this address. Try again later."


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Everything the service functions use; one per app."""

    settings: AuthSettings
    engine: AsyncEngine
    redis: Redis
    otps: OtpStore
    sms: SmsBackend
    inbox: DevSmsInbox
    access_tokens: AccessTokens
    sessions: Sessions
    verifier: TokenVerifier
    audit: AuditLog


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


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def start_login(ctx: AuthContext, *, phone: str, client: str) -> PendingLogin:
    """Send a new code to `phone`, voiding the previous one; the same for known and new phones."""
    settings = ctx.settings
    subject = rate_limit_subject(client)
    code = generate_code(settings.otp_length)
    send = await ctx.otps.send(phone=phone, client=subject, code=code)
    if send.outcome is SendOutcome.LOCKED:
        raise TooManyRequests(send.retry_after, LOCKED_DETAIL)
    if send.outcome is SendOutcome.WAIT:
        raise TooManyRequests(
            send.retry_after, f"A new code can be requested in {send.retry_after} s."
        )
    sent_at = datetime.now(UTC)
    message = SmsMessage(
        phone=phone,
        text=sms_text(code),
        code=code,
        login_id=send.login_id,
        sent_at=_iso(sent_at),
        expires_at=_iso(sent_at + timedelta(seconds=settings.otp_ttl_seconds)),
    )
    try:
        await ctx.sms.send(message)
    except SmsDeliveryError:
        logger.exception("sms delivery failed")
        await ctx.otps.unsend(phone=phone, client=subject, login_id=send.login_id)
        raise SmsUnavailable() from None
    CODES_SENT.inc()
    return PendingLogin(
        phone=phone,
        login_id=send.login_id,
        otp_length=settings.otp_length,
        expires_in=settings.otp_ttl_seconds,
        resend_in=settings.otp_resend_cooldown_seconds,
    )


def _normalized(phone: str) -> str:
    normalized = normalize_phone(phone)
    if normalized is None:
        raise InvalidPhone()
    return normalized


async def _pending_login(
    ctx: AuthContext, *, login_id: str | None, phone: str | None, cookie_login_id: str | None
) -> tuple[str | None, str]:
    """(login id or None, phone) of the login the caller names.

    What the body says wins over the cookie a browser may still hold from an earlier attempt.
    A phone names its live login, else its latest dead one, so the answer can say why it died.
    """
    if not login_id and phone is not None:
        normalized = _normalized(phone)
        return await ctx.otps.latest_login_of(normalized), normalized
    login_id = login_id or cookie_login_id
    if not login_id or not looks_like_login_id(login_id):
        raise OtpExpired(reason="no_pending_login")
    owner = await ctx.otps.phone_of(login_id)
    if owner is None:
        raise OtpExpired(reason="expired")
    return login_id, owner


async def complete_login(
    ctx: AuthContext,
    *,
    code: str,
    login_id: str | None,
    phone: str | None,
    cookie_login_id: str | None,
    client: str,
    user_agent: str,
) -> Grant:
    """Check the code of a pending login; on success register the phone if new and sign in."""
    if not is_well_formed_code(code, ctx.settings.otp_length):
        raise InvalidOtpFormat(f"The code is {ctx.settings.otp_length} digits.")
    subject = rate_limit_subject(client)
    login_id, phone = await _pending_login(
        ctx, login_id=login_id, phone=phone, cookie_login_id=cookie_login_id
    )
    if login_id is None:
        locked_for = await ctx.otps.lock_seconds_left(phone=phone, client=subject)
        if locked_for:
            raise TooManyRequests(locked_for, LOCKED_DETAIL)
        raise OtpExpired(reason="no_pending_login")
    verification = await ctx.otps.verify(login_id=login_id, phone=phone, client=subject, code=code)
    CODE_CHECKS.labels(verification.outcome.value).inc()
    match verification.outcome:
        case Outcome.WRONG:
            left = verification.attempts_left
            await _sign_in_failed(
                ctx, phone, client, "invalid_otp" if left else "attempts_exhausted"
            )
            raise InvalidOtp(attempts_left=left)
        case Outcome.VOID:
            # No audit row: the code was not checked, and tries at a void code are not capped
            # (each would be a row). The wrong try that used the code up has its row.
            raise OtpExpired(reason=verification.reason)
        case Outcome.LOCKED:
            if verification.locked_scope:
                await _sign_in_failed(
                    ctx,
                    phone,
                    client,
                    "attempts_exhausted",
                    Entry(
                        audit.LOCKOUT,
                        subject_phone=phone,
                        detail={"scope": verification.locked_scope},
                    ),
                )
            raise TooManyRequests(verification.retry_after, LOCKED_DETAIL)
        case Outcome.LIMITED:
            raise TooManyRequests(verification.retry_after, WRONG_CODES_DETAIL)
    sign_in = await repository.record_sign_in(
        ctx.engine,
        phone=phone,
        ip_hash=ctx.audit.hash_ip(client),
        request_id=audit.current_request_id(),
    )
    if sign_in.refused:
        until = sign_in.banned_until
        raise UserBanned(banned_until=_iso(until) if until else None)
    try:
        refresh = await ctx.sessions.start(
            user_id=sign_in.user.id, phone=phone, user_agent=user_agent
        )
    except SignInBarred:
        # A ban committed after this sign-in read the user.
        raise UserBanned(banned_until=None) from None
    access = ctx.access_tokens.issue(
        user_id=sign_in.user.id,
        phone=phone,
        session_id=refresh.session_id,
        roles=ctx.settings.roles_of(phone),
    )
    return Grant(access=access, refresh=refresh, user=sign_in.user, is_new_user=sign_in.is_new)


async def _sign_in_failed(
    ctx: AuthContext, phone: str, client: str, reason: str, *more: Entry
) -> None:
    failed = Entry(audit.SIGN_IN_FAILED, subject_phone=phone, detail={"reason": reason})
    await ctx.audit.write(failed, *more, ip=client)


async def refresh_tokens(
    ctx: AuthContext, *, refresh_token: str | None, client: str | None = None
) -> Grant:
    """Rotate the refresh token; a retired one (past its grace) revokes its whole session.

    The roles of the new access token follow ADMIN_PHONES as it is now.
    """
    if not refresh_token:
        raise InvalidRefreshToken("No refresh token was sent.")
    try:
        refresh = await ctx.sessions.rotate(refresh_token)
    except RefreshRejected as rejected:
        if rejected.reused:
            logger.warning("a retired refresh token was reused; its session is revoked")
            await ctx.audit.write(
                Entry(
                    audit.SESSION_REVOKED,
                    subject_id=rejected.user_id,
                    detail={"session_id": rejected.session_id, "by": "reuse"},
                ),
                ip=client,
            )
        raise InvalidRefreshToken() from None
    access = ctx.access_tokens.issue(
        user_id=refresh.user_id,
        phone=refresh.phone,
        session_id=refresh.session_id,
        roles=ctx.settings.roles_of(refresh.phone),
    )
    return Grant(
        access=access, refresh=refresh, user=UserRecord(id=refresh.user_id, phone=refresh.phone)
    )


async def logout(
    ctx: AuthContext,
    *,
    access_token: str | None,
    refresh_token: str | None,
    client: str | None = None,
) -> None:
    """End the sessions of whatever credentials the caller holds; every token of them dies.

    Idempotent: credentials that are already invalid are ignored. Each session that was
    still live leaves a `logout` event.
    """
    sessions: set[str] = set()
    if refresh_token:
        session_id = await ctx.sessions.session_of(refresh_token)
        if session_id:
            sessions.add(session_id)
    if access_token:
        with contextlib.suppress(NotAuthenticated):
            sessions.add((await ctx.verifier.verify(access_token)).session_id)
    ended = []
    for session_id in sorted(sessions):
        user_id = await ctx.sessions.revoke(session_id)
        if user_id is not None:
            detail = {"session_id": session_id}
            ended.append(Entry(audit.LOGOUT, user_id, user_id, detail=detail))
    await ctx.audit.write(*ended, ip=client)


async def end_session(
    ctx: AuthContext, *, principal: Principal, session_id: str, client: str
) -> None:
    """End one of the caller's sessions; SessionNotFound if it has no such live session."""
    if not await ctx.sessions.revoke_of_user(principal.user_id, session_id):
        raise SessionNotFound()
    user_id = principal.user_id
    detail = {"session_id": session_id, "by": "user"}
    await ctx.audit.write(Entry(audit.SESSION_REVOKED, user_id, user_id, detail=detail), ip=client)


async def end_all_sessions(ctx: AuthContext, *, principal: Principal, client: str) -> None:
    """End every session of the caller, the current one included."""
    count = await ctx.sessions.revoke_all_of_user(principal.user_id)
    user_id = principal.user_id
    detail = {"count": count, "by": "user"}
    await ctx.audit.write(
        Entry(audit.SESSIONS_REVOKED_ALL, user_id, user_id, detail=detail), ip=client
    )


async def latest_sms(ctx: AuthContext, *, phone: str) -> SmsMessage:
    sms = await ctx.inbox.latest(_normalized(phone))
    if sms is None:
        raise NoSms()
    return sms
