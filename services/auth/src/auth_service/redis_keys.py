"""Every Redis key the auth service writes, each with a TTL.

The one other services read, the revocation mark `auth:revoked_session:{sid}`, is defined in
common.revocation.
"""

from __future__ import annotations

# One-time codes and the limits around them (otp.py).
# hash: phone, otp (HMAC of login id + code), attempts, void (why the code stopped working,
# while it is kept)
LOGIN_KEY = "auth:login:{login_id}"
# The phone's live login: a code that can still be used.
LOGIN_OF_PHONE_KEY = "auth:login_of:{phone}"
# The phone's latest login, live or not, for an hour past its code's time: a try by phone
# against a dead code learns why it died (expired, attempts_exhausted) instead of finding nothing.
LAST_LOGIN_OF_PHONE_KEY = "auth:last_login_of:{phone}"
# Present for OTP_RESEND_COOLDOWN_SECONDS after a send.
COOLDOWN_KEY = "auth:send_cooldown:{phone}"
# Sorted sets of send times in the last hour, per phone and per client IP (an IPv6 client is
# its /64).
PHONE_SENDS_KEY = "auth:sends:phone:{phone}"
IP_SENDS_KEY = "auth:sends:ip:{ip}"
# Consecutive wrong codes for the phone from that IP, and that IP locked out of the phone's sign-in.
STREAK_KEY = "auth:otp_streak:{phone}:{ip}"
IP_LOCK_KEY = "auth:otp_lock:{phone}:{ip}"
# Sorted set of wrong-code times from every IP in the last hour, and the phone's sign-in locked
# for every IP.
PHONE_FAILURES_KEY = "auth:otp_failures:{phone}"
PHONE_LOCK_KEY = "auth:otp_lock:{phone}"
# Sorted set of wrong-code times from one IP in the last hour.
IP_FAILURES_KEY = "auth:verify_failures:ip:{ip}"
# Set of the client IPs with a failure streak or a lockout on the phone, kept as long as
# either can last: an unlock finds their keys without a SCAN.
FAILING_CLIENTS_KEY = "auth:otp_clients:{phone}"
# Hash per UTC day (YYYY-MM-DD) of counters for the admin stats: otp_sends. 400 days.
DAILY_STATS_KEY = "auth:daily:{day}"

# Login sessions and their refresh tokens (sessions.py).
# hash: user_id, phone, current (SHA-256 of the live token), previous, rotated_at (ms),
# successor (sealed), created_at, last_used_at, user_agent
SESSION_KEY = "auth:session:{sid}"
# The session a refresh token belongs to, for every token it issued (by SHA-256 of the token).
REFRESH_TOKEN_KEY = "auth:refresh:{digest}"  # noqa: S105 - a key name
# Sorted set of the user's session ids by creation time.
USER_SESSIONS_KEY = "auth:user_sessions:{user_id}"
# Set by a ban before it ends the user's sessions, until SIGN_IN_BAR_SECONDS: a sign-in that
# read the user before the ban committed cannot start a session after the sessions were ended.
SIGN_IN_BAR_KEY = "auth:sign_in_bar:{user_id}"

# The development inbox (sms.py): hash of the phone's latest simulated SMS.
DEV_SMS_KEY = "auth:dev_sms:{phone}"
