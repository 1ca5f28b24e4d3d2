"""A referral app on a fresh database (PostgreSQL unless a module asks for SQLite too)."""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, select

from common.db.urls import sync_url
from common.tokens import StaticKeySource
from referral_service import service
from referral_service.config import ReferralSettings
from referral_service.deps import ReferralState, state_of
from referral_service.main import create_app
from referral_service.models import Activation, Member

ACTIVATE = "/referral_system/api_invite_code_activation/"
INVITED = "/referral_system/api_invited_users/"
PROFILE = "/internal/referral/profile"


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, make_database: Callable[[str], str], sqlite_url: str
) -> str:
    """A fresh PostgreSQL database; a module runs on SQLite (single-process mode) too with
    `pytestmark = pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)`.
    """
    if getattr(request, "param", "postgresql") == "sqlite":
        return sqlite_url
    return make_database("referral")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'referral.db'}"


@pytest.fixture
def jwks_url(jwks: dict[str, Any]) -> Iterator[str]:
    """The test's public key served over HTTP, as the auth service serves its own."""
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/authentication/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def service_env(
    database_url: str, redis_url: str, jwt_settings: dict[str, str], jwks_url: str
) -> dict[str, str]:
    """The environment of a referral process (uvicorn) on the test's stores and keys."""
    return {
        "REFERRAL_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWKS_URL": jwks_url,
        "JWT_ISSUER": jwt_settings["jwt_issuer"],
        "JWT_AUDIENCE": jwt_settings["jwt_audience"],
        "APP_ENV": "test",
    }


@pytest.fixture
def make_settings(
    database_url: str, redis_url: str, jwt_settings: dict[str, str]
) -> Callable[..., ReferralSettings]:
    def make(**overrides: Any) -> ReferralSettings:
        values: dict[str, Any] = {
            "referral_database_url": database_url,
            "redis_url": redis_url,
            "app_env": "test",
            "log_json": False,
            **jwt_settings,
            **overrides,
        }
        return ReferralSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., ReferralSettings]) -> ReferralSettings:
    return make_settings()


@pytest.fixture
def app(settings: ReferralSettings, jwks: dict[str, Any]) -> FastAPI:
    return create_app(settings, key_source=StaticKeySource(jwks))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def engine(client: TestClient, database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the app's database (migrated by then), to arrange and inspect."""
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def code_of(client: TestClient, bearer: Callable[[int], dict[str, str]]) -> Callable[[int], str]:
    """The user's invite code; the first call makes the user a member."""

    def get(user_id: int) -> str:
        response = client.get(PROFILE, headers=bearer(user_id))
        assert response.status_code == 200, response.text
        code: str = response.json()["invite_code"]
        return code

    return get


@pytest.fixture
def activate(
    client: TestClient, bearer: Callable[[int], dict[str, str]]
) -> Callable[[int, object], httpx.Response]:
    def post(user_id: int, invite_code: object) -> httpx.Response:
        return client.post(ACTIVATE, json={"invite_code": invite_code}, headers=bearer(user_id))

    return post


Call = Callable[..., Any]


@pytest.fixture
def call(client: TestClient) -> Call:
    """call(async_function, *args, **kwargs) on the app's event loop, where its stores live."""

    def run(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        assert client.portal is not None
        return client.portal.call(functools.partial(function, *args, **kwargs))

    return run


@pytest.fixture
def state(client: TestClient) -> ReferralState:
    return state_of(client.app)


@pytest.fixture
def invite(call: Call, state: ReferralState) -> Callable[[int, Iterable[int]], None]:
    """invite(inviter, invitees): each invitee activates the inviter's code now, in this order;
    a user's phone is 9 and the id in nine digits."""

    def run(inviter_id: int, invitee_ids: Iterable[int]) -> None:
        inviter = call(
            service.ensure_member, state.engine, user_id=inviter_id, phone=f"9{inviter_id:09d}"
        )
        for invitee_id in invitee_ids:
            call(
                service.activate_invite_code,
                state.engine,
                state.redis,
                state.activation_failures,
                user_id=invitee_id,
                phone=f"9{invitee_id:09d}",
                invite_code=inviter.invite_code,
            )

    return run


@pytest.fixture
def add_members(engine: Engine) -> Callable[[list[int]], dict[int, str]]:
    """add_members(ids): members who activated nothing (each its own root); id -> code."""

    def add(user_ids: list[int]) -> dict[int, str]:
        codes = {user_id: f"m{user_id:05d}" for user_id in user_ids}
        with engine.begin() as connection:
            connection.execute(
                insert(Member),
                [
                    {
                        "user_id": user_id,
                        "phone": f"9{user_id:09d}",
                        "invite_code": code,
                        "root_id": user_id,
                        "created_at": datetime.now(UTC),
                    }
                    for user_id, code in codes.items()
                ],
            )
        return codes

    return add


@pytest.fixture
def inviters(engine: Engine) -> Callable[[], dict[int, int]]:
    """inviters(): invitee -> inviter, for every activation."""

    def read() -> dict[int, int]:
        with engine.connect() as connection:
            rows = connection.execute(select(Activation.invitee_id, Activation.inviter_id)).all()
        return {invitee: inviter for invitee, inviter in rows}

    return read


@pytest.fixture
def check_forest(engine: Engine, inviters: Callable[[], dict[int, int]]) -> Callable[[], None]:
    """check_forest(): no cycles; every root_id is the top of its tree; every count is right."""

    def check() -> None:
        edges = inviters()
        with engine.connect() as connection:
            members = connection.execute(
                select(Member.user_id, Member.root_id, Member.invited_count)
            ).all()
        tops: dict[int, int] = {}
        for user_id, _, _ in members:
            path = [user_id]
            while path[-1] in edges and path[-1] not in tops:
                path.append(edges[path[-1]])
                assert path[-1] not in path[:-1], f"cycle through {path[-1]}"
            top = tops.get(path[-1], path[-1])
            tops.update(dict.fromkeys(path, top))
        counts = Counter(edges.values())
        for user_id, root_id, invited_count in members:
            assert root_id == tops[user_id], (
                f"member {user_id}: root {root_id}, top {tops[user_id]}"
            )
            assert invited_count == counts[user_id], f"member {user_id}: count {invited_count}"

    return check
