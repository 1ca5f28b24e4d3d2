"""Every service's OpenAPI, fuzzed with schemathesis: no 5xx, and answers match the schema.

The services run as the native stack does it (uvicorn processes on real PostgreSQL and Redis),
and each one is fuzzed on its own port, internal routes included, with a real signed-in user so
the authenticated routes get past 401.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from testkit.plugin import (
    HAVE_POSTGRES,
    HAVE_REDIS,
    clean_redis_url,
    create_test_database,
    drop_test_database,
    free_port,
)
from testkit.servers import running_process

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class System:
    auth: str
    referral: str
    profile: str
    token: str


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if not (HAVE_POSTGRES and HAVE_REDIS):
        pytest.skip("the services' processes need PostgreSQL and Redis")
    folder = tmp_path_factory.mktemp("schema")
    redis_url = clean_redis_url()
    auth_db = create_test_database("schema_auth", sqlite_dir=folder)
    referral_db = create_test_database("schema_referral", sqlite_dir=folder)
    ports = {name: free_port() for name in ("gateway", "auth", "referral", "profile")}
    env = {
        "GATEWAY_PORT": str(ports["gateway"]),
        "AUTH_PORT": str(ports["auth"]),
        "REFERRAL_PORT": str(ports["referral"]),
        "PROFILE_PORT": str(ports["profile"]),
        "VAR_DIR": str(folder / "var"),
        "REDIS_URL": redis_url,
        "AUTH_DATABASE_URL": auth_db,
        "REFERRAL_DATABASE_URL": referral_db,
        "OTP_HMAC_SECRET": f"schema-test-{uuid.uuid4().hex}",
        "APP_ENV": "test",
        "STACK_WORKERS": "1",
    }
    try:
        with running_process(
            [sys.executable, "-m", "runmodes.stack"],
            env=env,
            cwd=REPO_ROOT,
            health_url=f"http://127.0.0.1:{ports['gateway']}/number_input/",
            log_path=folder / "stack.log",
            timeout=120,
        ):
            urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            yield System(
                auth=urls["auth"],
                referral=urls["referral"],
                profile=urls["profile"],
                token=_sign_in(urls["auth"]),
            )
    finally:
        drop_test_database(auth_db)
        drop_test_database(referral_db)


def _sign_in(auth: str) -> str:
    phone = "9990001122"
    with httpx.Client(base_url=auth, timeout=10) as client:
        client.post("/authentication/api_number_input/", json={"phone": phone})
        code = client.get("/authentication/api_dev_sms/", params={"phone": phone}).json()["code"]
        response = client.post("/authentication/api_otp_input/", json={"otp": code, "phone": phone})
    return str(response.json()["access_token"])


def _schema(base_url: str) -> OpenApiSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")  # type: ignore[return-value]


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
        name: set(httpx.get(f"{url}/openapi.json").json()["paths"])
        for name, url in (
            ("auth", system.auth),
            ("referral", system.referral),
            ("profile", system.profile),
        )
    }
    assert "/authentication/api_otp_input/" in paths["auth"]
    assert "/referral_system/api_invite_code_activation/" in paths["referral"]
    assert "/profile/api_profile/" in paths["profile"]
