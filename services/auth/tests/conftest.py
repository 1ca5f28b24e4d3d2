"""Fixtures for the auth tests: settings on a fresh database and a clean Redis, and the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from auth_service.config import AuthSettings
from auth_service.jwt_keys import private_key_to_pem
from auth_service.main import create_app
from common.errors import NotAuthenticated
from common.redis import redis_from_url
from common.revocation import revoked_session_key
from common.tokens import StaticKeySource, TokenVerifier

PHONE = "9991234567"
NUMBER_INPUT = "/authentication/api_number_input/"
OTP_INPUT = "/authentication/api_otp_input/"
REFRESH = "/authentication/api_token_refresh/"
LOGOUT = "/authentication/api_logout/"
DEV_SMS = "/authentication/api_dev_sms/"
JWKS = "/authentication/.well-known/jwks.json"


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return private_key_to_pem(Ed25519PrivateKey.generate()).decode()


@pytest.fixture
def make_settings(
    make_database: Callable[[str], str], redis_url: str, signing_key_pem: str
) -> Callable[..., AuthSettings]:
    """AuthSettings for a test: one fresh database per test, created on first use."""
    database: list[str] = []

    def build(**overrides: Any) -> AuthSettings:
        if not database and "auth_database_url" not in overrides:
            database.append(make_database("auth"))
        values: dict[str, Any] = {
            "app_env": "test",
            "auth_database_url": database[0] if database else None,
            "redis_url": redis_url,
            "jwt_private_key": signing_key_pem,
            "otp_hmac_secret": "test-otp-hmac-secret",
            "cookie_secure": False,
            "dev_sms_inbox": True,
            "log_json": False,
        }
        unknown = set(overrides) - set(AuthSettings.model_fields)
        assert not unknown, f"not AuthSettings fields: {unknown}"
        return AuthSettings(**{**values, **overrides})

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., AuthSettings]) -> Iterator[Callable[..., TestClient]]:
    """A started app (lifespan run) on the test's settings, with `overrides` applied."""
    with ExitStack() as stack:

        def build(
            *,
            peer: str = "testclient",
            referral_transport: httpx.AsyncBaseTransport | None = None,
            **overrides: Any,
        ) -> TestClient:
            """`peer` is the address the app sees the request come from; `referral_transport`
            stands in for referral's internal admin routes."""
            app = create_app(make_settings(**overrides), referral_transport=referral_transport)
            return stack.enter_context(TestClient(app, client=(peer, 50000)))

        yield build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


class Flow:
    """The sign-in steps as a client performs them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @staticmethod
    def wrong(code: str) -> str:
        """A code of the same length that is certainly not `code`."""
        return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))

    def request_code(self, phone: str = PHONE) -> dict[str, Any]:
        response = self.client.post(NUMBER_INPUT, json={"phone": phone})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def read_code(self, phone: str = PHONE) -> str:
        response = self.client.get(DEV_SMS, params={"phone": phone})
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    def sign_in(self, phone: str = PHONE) -> dict[str, Any]:
        self.request_code(phone)
        response = self.client.post(OTP_INPUT, json={"otp": self.read_code(phone), "phone": phone})
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def flow(client: TestClient) -> Flow:
    return Flow(client)


@pytest.fixture
def flow_for() -> Callable[[TestClient], Flow]:
    return Flow


@pytest.fixture
def accepted(client: TestClient, redis_url: str) -> Callable[[str], bool]:
    """accepted(token): would the other services take this access token now?

    What each of them checks: the signature and claims with the published keys, and that the
    token's session has not been revoked.
    """

    def check(token: str) -> bool:
        settings = AuthSettings()
        verifier = TokenVerifier(
            keys=StaticKeySource(client.get(JWKS).json()),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        try:
            principal = asyncio.run(verifier.verify(token))
        except NotAuthenticated:
            return False
        return not redis_from_url(redis_url).exists(revoked_session_key(principal.session_id))

    return check


@dataclass
class FakeReferral:
    """Members by user id, a stats series and audit rows; every request is recorded."""

    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    activations: dict[date, tuple[int, dict[str, int]]] = field(default_factory=dict)
    top_inviters: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    down: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def add_audit(self, type_: str, at: datetime, **fields: Any) -> int:
        row_id = len(self.audit) + 1
        self.audit.append(
            {
                "id": row_id,
                "at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "type": type_,
                "actor_id": fields.get("actor_id"),
                "subject_id": fields.get("subject_id"),
                "subject_phone": fields.get("subject_phone"),
                "ip_hash": fields.get("ip_hash"),
                "request_id": fields.get("request_id"),
                "detail": fields.get("detail", {}),
            }
        )
        return row_id

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            return httpx.Response(500, json={"detail": "down", "code": "internal_error"})
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return httpx.Response(401, json={"detail": "no", "code": "not_authenticated"})
        path, query = request.url.path, request.url.params
        if path == "/internal/admin/members" and request.method == "POST":
            ids = json.loads(request.content)["ids"]
            items = [self._member(i) for i in ids if i in self.members]
            return httpx.Response(200, json={"items": items})
        if path.startswith("/internal/admin/members/"):
            user_id = int(path.rsplit("/", 1)[1])
            if user_id not in self.members:
                return httpx.Response(404, json={"detail": "no", "code": "member_not_found"})
            member = self.members[user_id]
            return httpx.Response(
                200,
                json={
                    **self._member(user_id),
                    "inviter_chain": member.get("inviter_chain", []),
                    "invitees": member.get("invitees", []),
                    "invitees_next": member.get("invitees_next"),
                },
            )
        if path == "/internal/admin/stats":
            days = int(query["days"])
            today = datetime.now(UTC).date()
            series = []
            for back in range(days - 1, -1, -1):
                day = today - timedelta(days=back)
                activations, refused = self.activations.get(day, (0, {}))
                series.append(
                    {"date": day.isoformat(), "activations": activations, "refused": refused}
                )
            return httpx.Response(200, json={"series": series, "top_inviters": self.top_inviters})
        if path == "/internal/admin/audit":
            rows = sorted(self.audit, key=lambda row: -row["id"])
            if "type" in query:
                rows = [row for row in rows if row["type"] == query["type"]]
            if "user_id" in query:
                user = int(query["user_id"])
                rows = [row for row in rows if user in (row["actor_id"], row["subject_id"])]
            if "before_id" in query:
                rows = [row for row in rows if row["id"] < int(query["before_id"])]
            return httpx.Response(200, json={"items": rows[: int(query["limit"])]})
        return httpx.Response(404, json={"detail": "no route", "code": "not_found"})

    def _member(self, user_id: int) -> dict[str, Any]:
        member = self.members[user_id]
        return {
            "user_id": user_id,
            "invite_code": member.get("invite_code"),
            "activated_invite_code": member.get("activated_invite_code"),
            "invited_count": member.get("invited_count", 0),
        }


ADMIN_PHONE = "9990000001"


@pytest.fixture
def fake_referral() -> FakeReferral:
    return FakeReferral()


class Admin:
    """A signed-in operator (ADMIN_PHONE) and the app it uses, with a fake referral behind."""

    def __init__(self, client: TestClient, flow: Flow, referral: FakeReferral) -> None:
        self.client = client
        self.flow = flow
        self.referral = referral
        self.tokens = flow.sign_in(ADMIN_PHONE)
        client.cookies.clear()
        self.id = int(self.tokens["user"]["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        if body is None:
            return self.client.post(path, headers=self.headers)
        return self.client.post(path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)

    def sign_in(self, phone: str) -> dict[str, Any]:
        """Someone else's sign-in on the same app; the operator's cookies are not touched."""
        body = self.flow.sign_in(phone)
        self.client.cookies.clear()
        return body


@pytest.fixture
def make_admin(
    make_client: Callable[..., TestClient], fake_referral: FakeReferral
) -> Callable[..., Admin]:
    def build(**overrides: Any) -> Admin:
        client = make_client(
            admin_phones=(ADMIN_PHONE,), referral_transport=fake_referral.transport(), **overrides
        )
        return Admin(client, Flow(client), fake_referral)

    return build


@pytest.fixture
def operator(make_admin: Callable[..., Admin]) -> Admin:
    return make_admin()


@pytest.fixture
def audit_rows(make_settings: Callable[..., AuthSettings]) -> Callable[..., list[dict[str, Any]]]:
    """audit_rows(type=None): the auth audit table's rows, oldest first, read with SQL."""

    def read(type_: str | None = None) -> list[dict[str, Any]]:
        engine = create_engine(make_settings().auth_database_url)
        try:
            with engine.connect() as connection:
                statement = "SELECT id, type, actor_id, subject_id, subject_phone, ip_hash, "
                statement += "request_id, detail FROM audit_event ORDER BY id"
                rows = [dict(row._mapping) for row in connection.execute(text(statement))]
        finally:
            engine.dispose()
        for row in rows:
            if isinstance(row["detail"], str):
                row["detail"] = json.loads(row["detail"])
        return [row for row in rows if type_ is None or row["type"] == type_]

    return read


@pytest.fixture
def run_sql(make_settings: Callable[..., AuthSettings]) -> Callable[..., Any]:
    """run_sql(statement, **params) on the test's auth database; the rows, if any."""

    def run(statement: str, **params: Any) -> list[Any]:
        engine = create_engine(make_settings().auth_database_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            engine.dispose()

    return run
