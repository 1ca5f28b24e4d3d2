"""The service as deployed: `uvicorn auth_service.main:create_app --factory`, configured by
environment variables only, driven over real HTTP."""

import json
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from common.redis import redis_from_url
from common.revocation import revoked_session_key
from testkit.plugin import free_port
from testkit.servers import running_process, uvicorn_command

PHONE = "9991234567"
pytestmark = pytest.mark.e2e


def test_sign_in_refresh_and_logout_over_http(
    make_database: Callable[[str], str], redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    key_file = tmp_path / "state" / "jwt-ed25519.pem"
    log_path = tmp_path / "auth.log"
    env = {
        "APP_ENV": "development",
        "AUTH_DATABASE_URL": make_database("auth"),
        "REDIS_URL": redis_url,
        "JWT_PRIVATE_KEY_FILE": str(key_file),
        "JWT_GENERATE_KEY_IF_MISSING": "true",
        "OTP_HMAC_SECRET": "e2e-otp-hmac-secret",
        "DEV_SMS_INBOX": "true",
        "COOKIE_SECURE": "false",
        "LOG_JSON": "true",
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running_process(
            uvicorn_command("auth_service.main:create_app", port=port),
            health_url=f"{base}/readyz",
            env=env,
            log_path=log_path,
        ),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        sent = http.post(
            "/authentication/api_number_input/",
            json={"number": "+7 (999) 123-45-67"},
            headers={"x-request-id": "e2e-request-1"},
        )
        assert sent.status_code == 200
        assert sent.headers["x-request-id"] == "e2e-request-1"
        assert http.cookies.get("login_id") == sent.json()["login_id"]

        sms = http.get("/authentication/api_dev_sms/", params={"phone": PHONE}).json()
        signed_in = http.post("/authentication/api_otp_input/", json={"otp": sms["code"]})
        assert signed_in.status_code == 200
        tokens = signed_in.json()
        assert tokens["is_new_user"] is True and tokens["user"]["phone"] == PHONE
        assert http.cookies.get("access_token") == tokens["access_token"]

        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["sub"] == str(tokens["user"]["id"]) and claims["phone"] == PHONE

        refreshed = http.post("/authentication/api_token_refresh/")
        assert refreshed.status_code == 200
        new_access = refreshed.json()["access_token"]

        logout = http.post(
            "/authentication/api_logout/", headers={"authorization": f"Bearer {new_access}"}
        )
        assert logout.status_code == 204
        http.cookies.clear()
        # Every service refuses the session's tokens from now on: its revocation is in Redis.
        session = jwt.decode(new_access, options={"verify_signature": False})["sid"]
        assert redis_from_url(redis_url).exists(revoked_session_key(session))
        reuse = http.post(
            "/authentication/api_token_refresh/",
            json={"refresh_token": refreshed.json()["refresh_token"]},
        )
        assert reuse.status_code == 401

        jwks = http.get("/authentication/.well-known/jwks.json").json()
        assert len(jwks["keys"]) == 1

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "access"]
    assert any(line.get("request_id") == "e2e-request-1" for line in access)
    assert all(line["service"] == "auth" for line in lines)
    assert "e2e-otp-hmac-secret" not in log_path.read_text()
