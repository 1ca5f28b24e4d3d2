"""SMS delivery behind a one-method interface, and the development inbox of simulated messages.

A provider is one class with an async `send` (raising SmsDeliveryError when the message was not
taken), one more `SMS_BACKEND` value in AuthSettings and one more case in `build_sms_backend`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, cast

import httpx
from redis.asyncio import Redis

from auth_service.config import AuthSettings
from auth_service.redis_keys import DEV_SMS_KEY, LOGIN_OF_PHONE_KEY
from common import webhooks

logger = logging.getLogger(__name__)


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
        key = DEV_SMS_KEY.format(phone=message.phone)
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
            pipe.hgetall(DEV_SMS_KEY.format(phone=phone))
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
    """Simulated delivery: the message goes to the dev inbox if on, and its address to the log.

    The code itself is never logged: a log is shipped, kept and read far more widely than the
    development inbox, which serves it only while it works.
    """

    def __init__(self, inbox: DevSmsInbox | None) -> None:
        self._inbox = inbox

    async def send(self, message: SmsMessage) -> None:
        if self._inbox is not None:
            await self._inbox.record(message)
        where = "in the dev inbox" if self._inbox is not None else "shown nowhere (no dev inbox)"
        logger.info(
            "simulated SMS to %s; its code is %s",
            message.phone,
            where,
            extra={"sms_to": message.phone},
        )


class WebhookSms:
    """Each message POSTed to the operator's SMS gateway, signed per the Standard Webhooks spec.

    The body is `{"phone", "text", "code", "expires_at"}`. Anything but a 2xx answer within the
    timeout is a failed delivery; the model is GoTrue's send-SMS hook.
    """

    def __init__(self, client: httpx.AsyncClient, *, url: str, secret: str) -> None:
        self._client = client
        self._url = url
        self._secret = secret

    async def send(self, message: SmsMessage) -> None:
        payload = {
            "phone": message.phone,
            "text": message.text,
            "code": message.code,
            "expires_at": message.expires_at,
        }
        try:
            response = await webhooks.post(
                self._client, self._url, secret=self._secret, payload=payload
            )
        except httpx.HTTPError as exc:
            raise SmsDeliveryError(f"SMS gateway unreachable: {type(exc).__name__}") from exc
        if not response.is_success:
            raise SmsDeliveryError(f"SMS gateway answered HTTP {response.status_code}")


def build_sms_backend(
    settings: AuthSettings, inbox: DevSmsInbox | None, http: httpx.AsyncClient
) -> SmsBackend:
    match settings.sms_backend:
        case "console":
            return ConsoleSms(inbox)
        case "webhook":
            assert settings.sms_webhook_url and settings.sms_webhook_secret  # AuthSettings checks
            return WebhookSms(
                http,
                url=str(settings.sms_webhook_url),
                secret=settings.sms_webhook_secret.get_secret_value(),
            )
