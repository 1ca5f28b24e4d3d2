"""Behaviour at the edges: delivery failures, key rotation, key hygiene in Redis, production."""

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import ValidationError

from auth_service.jwt_keys import private_key_to_pem, public_jwk
from auth_service.main import create_app
from auth_service.sms import SmsDeliveryError, SmsMessage
from auth_service.tokens import AccessTokens
from common.redis import redis_from_url
from common.tokens import StaticKeySource, TokenVerifier

NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
DEV_SMS = "/authentication/api_dev_sms/"
JWKS = "/authentication/.well-known/jwks.json"
PHONE = "9991234567"


class BrokenProvider:
    async def send(self, message: SmsMessage) -> None:
        raise SmsDeliveryError("provider down")


def test_a_failed_delivery_is_503_and_leaves_no_usable_code_nor_a_spent_send(
    make_client: Callable[..., TestClient], redis_url: str
) -> None:
    client = make_client(otp_max_per_phone_per_hour=1)
    app: Any = client.app
    working = app.state.auth
    app.state.auth = dataclasses.replace(
        working, context=dataclasses.replace(working.context, sms=BrokenProvider())
    )
    response = client.post(NUMBER_INPUT, json={"phone": PHONE})
    assert response.status_code == 503 and response.json()["code"] == "sms_unavailable"
    assert "set-cookie" not in response.headers
    assert client.get(DEV_SMS, params={"phone": PHONE}).status_code == 404
    assert client.post(OTP_INPUT, json={"otp": "1234", "phone": PHONE}).status_code == 410
    assert redis_from_url(redis_url).keys("auth:login*") == []
    # The failed send took nothing from the hourly cap of one.
    app.state.auth = working
    assert client.post(NUMBER_INPUT, json={"phone": PHONE}).status_code == 200


def test_tokens_of_a_previous_key_still_verify_during_a_rotation(
    make_client: Callable[..., TestClient],
    flow_for: Any,
    tmp_path: Path,
) -> None:
    previous = Ed25519PrivateKey.generate()
    extra = tmp_path / "previous.pub.pem"
    extra.write_bytes(
        previous.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    client = make_client(jwt_extra_public_keys_file=extra)
    user = flow_for(client).sign_in()["user"]
    client.cookies.clear()
    kids = [
        key["kid"] for key in client.get("/authentication/.well-known/jwks.json").json()["keys"]
    ]
    assert kids[1] == public_jwk(previous.public_key())["kid"] and len(kids) == 2

    old_token = AccessTokens(
        signing_key=previous,
        kid=kids[1],
        issuer="referral-platform-auth",
        audience="referral-platform",
        ttl_seconds=600,
    ).issue(user_id=user["id"], phone=PHONE, session_id="old-session")
    verifier = TokenVerifier(
        keys=StaticKeySource(client.get(JWKS).json()),
        issuer="referral-platform-auth",
        audience="referral-platform",
    )
    assert asyncio.run(verifier.verify(old_token.token)).user_id == user["id"]


def test_every_redis_key_is_namespaced_and_expires(
    make_client: Callable[..., TestClient], flow_for: Any, redis_url: str
) -> None:
    client = make_client(otp_resend_cooldown_seconds=0, otp_lockout_failures=2)
    flow = flow_for(client)
    tokens = flow.sign_in()
    client.post("/authentication/api_token_refresh/")
    flow.request_code("9990000001")
    flow.request_code("9990000002")
    code = flow.read_code("9990000002")
    for _ in range(2):
        client.post(OTP_INPUT, json={"otp": flow.wrong(code), "phone": "9990000002"})
    client.post(
        "/authentication/api_logout/",
        headers={"authorization": f"Bearer {tokens['access_token']}"},
    )
    redis = redis_from_url(redis_url)
    keys = redis.keys("*")
    assert any(key.startswith("auth:otp_lock:") for key in keys)
    assert any(key.startswith("auth:revoked_session:") for key in keys)
    assert all(key.startswith("auth:") for key in keys), keys
    assert all(redis.ttl(key) > 0 for key in keys), {key: redis.ttl(key) for key in keys}


def test_production_settings_with_real_secrets_build_an_app(make_settings: Any) -> None:
    production = {
        "app_env": "production",
        "otp_hmac_secret": "a-real-secret-of-at-least-32-bytes!",
        "audit_hash_key": "another-real-secret-of-32-bytes-or-more",
        "jwt_private_key": private_key_to_pem(Ed25519PrivateKey.generate()).decode(),
        "cookie_secure": True,
        "dev_sms_inbox": False,
        "sms_backend": "webhook",
        "sms_webhook_url": "https://sms.example/hook",
        "sms_webhook_secret": "whsec_" + "A" * 40,
    }
    with TestClient(create_app(make_settings(**production))) as client:
        assert len(client.get(JWKS).json()["keys"]) == 1
        assert client.get(DEV_SMS, params={"phone": PHONE}).status_code == 404
    with pytest.raises(ValidationError, match="DEV_SMS_INBOX"):
        make_settings(**{**production, "dev_sms_inbox": True})
