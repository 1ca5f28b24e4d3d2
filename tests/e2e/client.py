"""A small client for the public API, as an integrator would write one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx


def new_phone() -> str:
    """A random number in the contract's national format, unique enough for one run."""
    return "9" + "".join(secrets.choice("0123456789") for _ in range(9))


@dataclass
class Session:
    phone: str
    user_id: int
    access_token: str
    refresh_token: str
    is_new_user: bool

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def request_code(client: httpx.Client, phone: str) -> dict[str, Any]:
    response = client.post("/authentication/api_number_input/", json={"phone": phone})
    assert response.status_code == 200, response.text
    return dict(response.json())


def read_sms_code(client: httpx.Client, phone: str) -> str:
    response = client.get("/authentication/api_dev_sms/", params={"phone": phone})
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def sign_in(client: httpx.Client, phone: str | None = None) -> Session:
    """The whole login: number, the simulated SMS, the code. Cookies are not relied on."""
    phone = phone or new_phone()
    sent = request_code(client, phone)
    code = read_sms_code(client, phone)
    response = client.post(
        "/authentication/api_otp_input/",
        json={"otp": code, "login_id": sent["login_id"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    client.cookies.clear()
    return Session(
        phone=phone,
        user_id=body["user"]["id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        is_new_user=body["is_new_user"],
    )


def profile(client: httpx.Client, session: Session) -> dict[str, Any]:
    response = client.get("/profile/api_profile/", headers=session.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def activate(client: httpx.Client, session: Session, code: Any) -> httpx.Response:
    return client.post(
        "/referral_system/api_invite_code_activation/",
        json={"invite_code": code},
        headers=session.headers,
    )
