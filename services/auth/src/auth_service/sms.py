"""SMS delivery behind a one-method interface, and the development inbox of simulated messages.

A provider is one class with an async `send` (raising SmsDeliveryError when the message was not
taken), one more `SMS_BACKEND` value in AuthSettings and one more case in `build_sms_backend`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, cast

from redis.asyncio import Redis

from auth_service.config import AuthSettings
from auth_service.otp import LOGIN_OF_PHONE_KEY

logger = logging.getLogger(__name__)

INBOX_KEY = "auth:dev_sms:{phone}"


@dataclass(frozen=True, slots=True)
class SmsMessage:
    phone: str
    text: str
    code: str
    # The login the code belongs to, and when it stops working (ISO 8601, UTC).
    login_id: str
    sent_at: str
    expires_at: str


class SmsDeliveryError(Exception):
    """The provider did not take the message."""


class SmsBackend(Protocol):
    async def send(self, message: SmsMessage) -> None: ...


class DevSmsInbox:
    """The latest simulated SMS per phone, readable while its code still works (development)."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def record(self, message: SmsMessage) -> None:
        key = INBOX_KEY.format(phone=message.phone)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "login_id": message.login_id,
                    "phone": message.phone,
                    "code": message.code,
                    "text": message.text,
                    "sent_at": message.sent_at,
                    "expires_at": message.expires_at,
                },
            )
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def latest(self, phone: str) -> SmsMessage | None:
        """The phone's last message, if its code is still the phone's live one."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(INBOX_KEY.format(phone=phone))
            pipe.get(LOGIN_OF_PHONE_KEY.format(phone=phone))
            fields, live_login = await pipe.execute()
        # Clients decode responses (common.redis), so strings come back.
        fields = cast("dict[str, str]", fields)
        if not fields or fields.get("login_id") != live_login:
            return None
        return SmsMessage(
            phone=fields["phone"],
            text=fields["text"],
            code=fields["code"],
            login_id=fields["login_id"],
            sent_at=fields["sent_at"],
            expires_at=fields["expires_at"],
        )


class ConsoleSms:
    """Simulated delivery: the message goes to the service log, and to the dev inbox if on."""

    def __init__(self, inbox: DevSmsInbox | None) -> None:
        self._inbox = inbox

    async def send(self, message: SmsMessage) -> None:
        logger.info(
            "simulated SMS to %s: %s",
            message.phone,
            message.text,
            extra={"sms_to": message.phone},
        )
        if self._inbox is not None:
            await self._inbox.record(message)


def build_sms_backend(settings: AuthSettings, inbox: DevSmsInbox | None) -> SmsBackend:
    match settings.sms_backend:
        case "console":
            return ConsoleSms(inbox)
