"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from auth_service.phones import normalize_phone
from auth_service.repository import UserRecord
from auth_service.service import Grant, PendingLogin
from auth_service.sessions import SessionInfo
from auth_service.sms import SmsMessage

PHONE_HELP = "10 digits, e.g. 9991234567; +7 (999) 123-45-67 and 8 999 123 45 67 are accepted too"


class NumberInputRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "9991234567"}]})

    phone: str = Field(
        validation_alias=AliasChoices("phone", "number"),
        description=f"{PHONE_HELP}. `number` is accepted as an alias.",
    )

    @field_validator("phone")
    @classmethod
    def _normalize(cls, value: str) -> str:
        normalized = normalize_phone(value)
        if normalized is None:
            raise ValueError("Enter a phone number of 10 digits, e.g. 9991234567.")
        return normalized


class NumberInputResponse(BaseModel):
    phone: str
    login_id: str = Field(description="Names this sign-in; also set as the login_id cookie.")
    otp_length: int
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_in: int = Field(description="Seconds before another code can be requested.")

    @classmethod
    def of(cls, pending: PendingLogin) -> NumberInputResponse:
        return cls(
            phone=pending.phone,
            login_id=pending.login_id,
            otp_length=pending.otp_length,
            expires_in=pending.expires_in,
            resend_in=pending.resend_in,
        )


class OtpInputRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"otp": "1254"}]})

    otp: str = Field(
        validation_alias=AliasChoices("otp", "number"),
        description="The code from the SMS. `number` is accepted as an alias.",
    )
    login_id: str | None = Field(
        None, description="The sign-in to complete, for clients without cookies."
    )
    phone: str | None = Field(
        None, description="The phone whose latest code this is, for clients without cookies."
    )


class RefreshRequest(BaseModel):
    refresh_token: str | None = Field(None, description="Taken from the cookie when absent.")


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(None, description="Also revoked when given.")


class UserOut(BaseModel):
    id: int
    phone: str

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        return cls(id=user.id, phone=user.phone)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name
    expires_in: int = Field(description="Seconds the access token stays valid.")
    user: UserOut

    @classmethod
    def of(cls, grant: Grant, *, expires_in: int) -> TokenResponse:
        return cls(
            access_token=grant.access.token,
            refresh_token=grant.refresh.token,
            expires_in=expires_in,
            user=UserOut.of(grant.user),
        )


class LoginResponse(TokenResponse):
    is_new_user: bool

    @classmethod
    def of_login(cls, grant: Grant, *, expires_in: int) -> LoginResponse:
        tokens = TokenResponse.of(grant, expires_in=expires_in)
        return cls(**dict(tokens), is_new_user=grant.is_new_user)


class DevSmsResponse(BaseModel):
    phone: str
    code: str
    text: str
    sent_at: str = Field(description="ISO 8601, UTC.")

    @classmethod
    def of(cls, sms: SmsMessage) -> DevSmsResponse:
        return cls(phone=sms.phone, code=sms.code, text=sms.text, sent_at=sms.sent_at)


class SessionItem(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime = Field(description="The latest sign-in or token refresh.")
    user_agent: str
    current: bool = Field(description="The session of the access token of this request.")


class SessionsPage(BaseModel):
    items: list[SessionItem]

    @classmethod
    def of(cls, sessions: list[SessionInfo], *, current: str) -> SessionsPage:
        return cls(
            items=[
                SessionItem(
                    id=session.id,
                    created_at=session.created_at,
                    last_used_at=session.last_used_at,
                    user_agent=session.user_agent,
                    current=session.id == current,
                )
                for session in sessions
            ]
        )
