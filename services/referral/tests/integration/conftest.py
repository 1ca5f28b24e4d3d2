"""A referral app on a fresh database (PostgreSQL unless a module asks for SQLite too)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from common.security import StaticKeySource
from referral_service.config import ReferralSettings
from referral_service.main import create_app

ACTIVATE = "/referral_system/api_invite_code_activation/"
INVITED = "/referral_system/api_invited_users/"
ME = "/internal/referral/me"


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
def engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine


@pytest.fixture
def code_of(client: TestClient, bearer: Callable[[int], dict[str, str]]) -> Callable[[int], str]:
    """The user's invite code; the first call makes the user a member."""

    def get(user_id: int) -> str:
        response = client.get(ME, headers=bearer(user_id))
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
