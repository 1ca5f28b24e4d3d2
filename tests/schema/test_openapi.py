"""Every service's OpenAPI, fuzzed with schemathesis: no 5xx, and answers match the schema.

The three apps run in-process on real stores (PostgreSQL and Redis in CI), wired as in the
single-process mode, with a real signed-in user so the authenticated routes get past 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from auth_service.config import AuthSettings
from auth_service.keys import private_key_to_pem
from auth_service.main import create_app as create_auth_app
from common.security import StaticKeySource
from common.testing.plugin import clean_redis_url, create_test_database, drop_test_database
from profile_service.config import ProfileSettings
from profile_service.main import create_app as create_profile_app
from referral_service.config import ReferralSettings
from referral_service.main import create_app as create_referral_app

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class System:
    auth: FastAPI
    referral: FastAPI
    profile: FastAPI
    token: str


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    folder = tmp_path_factory.mktemp("schema")
    redis_url = clean_redis_url()
    auth_db = create_test_database("schema_auth", sqlite_dir=folder)
    referral_db = create_test_database("schema_referral", sqlite_dir=folder)
    try:
        auth = create_auth_app(
            AuthSettings(
                app_env="test",
                auth_database_url=auth_db,
                redis_url=redis_url,
                jwt_private_key=private_key_to_pem(Ed25519PrivateKey.generate()).decode(),
                otp_hmac_secret="schema-test-secret",
                dev_sms_inbox=True,
                cookie_secure=False,
                log_json=False,
            )
        )
        referral = create_referral_app(
            ReferralSettings(
                app_env="test",
                referral_database_url=referral_db,
                redis_url=redis_url,
                log_json=False,
            ),
            key_source=StaticKeySource(auth.state.public_jwks),
        )
        profile = create_profile_app(
            ProfileSettings(
                app_env="test",
                auth_service_url="http://auth.internal",
                referral_service_url="http://referral.internal",
                log_json=False,
            ),
            auth_transport=httpx.ASGITransport(app=auth),
            referral_transport=httpx.ASGITransport(app=referral),
        )
        with TestClient(auth) as auth_client, TestClient(referral), TestClient(profile):
            yield System(auth, referral, profile, token=_sign_in(auth_client))
    finally:
        drop_test_database(auth_db)
        drop_test_database(referral_db)


def _sign_in(client: TestClient) -> str:
    phone = "9990001122"
    client.post("/authentication/api_number_input/", json={"phone": phone})
    code = client.get("/authentication/api_dev_sms/", params={"phone": phone}).json()["code"]
    response = client.post("/authentication/api_otp_input/", json={"otp": code, "phone": phone})
    return str(response.json()["access_token"])


def _schema(app: FastAPI) -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)  # type: ignore[return-value]


@pytest.fixture
def auth_schema(system: System) -> OpenApiSchema:
    return _schema(system.auth)


@pytest.fixture
def referral_schema(system: System) -> OpenApiSchema:
    return _schema(system.referral)


@pytest.fixture
def profile_schema(system: System) -> OpenApiSchema:
    return _schema(system.profile)


def _headers(system: System) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token}"}


# Every check but "schema-valid data is accepted": phones in any of the accepted spellings,
# codes of OTP_LENGTH digits and existing invite codes are rules a JSON Schema cannot state,
# so schema-valid inputs are rightly refused with the contract's 4xx codes.
EXCLUDED = [positive_data_acceptance]


auth_api = schemathesis.pytest.from_fixture("auth_schema")
referral_api = schemathesis.pytest.from_fixture("referral_schema")
profile_api = schemathesis.pytest.from_fixture("profile_schema")


@auth_api.parametrize()
@EXAMPLES
def test_auth_api(case: schemathesis.Case, system: System) -> None:
    case.call_and_validate(headers=_headers(system), excluded_checks=EXCLUDED)


@referral_api.parametrize()
@EXAMPLES
def test_referral_api(case: schemathesis.Case, system: System) -> None:
    case.call_and_validate(headers=_headers(system), excluded_checks=EXCLUDED)


@profile_api.parametrize()
@EXAMPLES
def test_profile_api(case: schemathesis.Case, system: System) -> None:
    case.call_and_validate(headers=_headers(system), excluded_checks=EXCLUDED)


def test_every_service_publishes_its_public_routes(system: System) -> None:
    paths = {
        name: set(TestClient(app).get("/openapi.json").json()["paths"])
        for name, app in (
            ("auth", system.auth),
            ("referral", system.referral),
            ("profile", system.profile),
        )
    }
    assert "/authentication/api_otp_input/" in paths["auth"]
    assert "/referral_system/api_invite_code_activation/" in paths["referral"]
    assert "/profile/api_profile/" in paths["profile"]
