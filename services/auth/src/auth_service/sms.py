"""SMS delivery behind a one-method interface, and the development inbox of simulated messages.

A real provider is one more class with `send` (raising SmsDeliveryError when it fails), one
more `SMS_BACKEND` value in AuthSettings and one more case in `build_sms_backend`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, cast

from redis import Redis

from auth_service.config import AuthSettings

logger = logging.getLogger(__name__)

INBOX_KEY = "auth:dev_sms:{phone}"


class SmsDeliveryError(Exception):
    """The provider did not take the message."""


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsBackend:
    """Simulated delivery: the message goes to the service log."""

    def send(self, phone: str, text: str) -> None:
        logger.info("simulated sms", extra={"sms_to": phone, "sms_text": text})


def build_sms_backend(settings: AuthSettings) -> SmsBackend:
    match settings.sms_backend:
        case "console":
            if settings.is_production:
                logger.warning("SMS_BACKEND=console in production: codes go to the log only")
            return ConsoleSmsBackend()


@dataclass(frozen=True, slots=True)
class SimulatedSms:
    phone: str
    code: str
    text: str
    sent_at: str


class DevSmsInbox:
    """Reads the latest simulated SMS per phone, kept while its code is valid.

    The OTP scripts write an entry together with its code (DEV_SMS_INBOX=true only) and
    delete it when that code is used or voided.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def latest(self, phone: str) -> SimulatedSms | None:
        # Clients decode responses (common.redis), so strings come back.
        fields = cast("dict[str, str]", self._redis.hgetall(INBOX_KEY.format(phone=phone)))
        if not fields:
            return None
        return SimulatedSms(
            phone=fields["phone"],
            code=fields["code"],
            text=fields["text"],
            sent_at=fields["sent_at"],
        )
