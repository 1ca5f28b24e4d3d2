"""Races on the real PostgreSQL and Redis, with real threads."""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from auth_service import repository
from auth_service.main import MIGRATIONS
from auth_service.models import User
from common.db.engine import create_db_engine
from common.db.urls import sync_url
from common.migrations import run_migrations

OTP_INPUT = "/authentication/api_otp_input/"
REFRESH = "/authentication/api_token_refresh/"
T = TypeVar("T")


def all_at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` in `count` threads released together."""
    start = threading.Barrier(count)

    def run(index: int) -> T:
        start.wait()
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def post_together(client: TestClient, path: str, body: dict[str, str], count: int) -> list[Any]:
    client.cookies.clear()
    return all_at_once(count, lambda _: client.post(path, json=body))


def test_one_code_checked_twice_at_once_signs_in_once(
    make_client: Callable[..., TestClient], flow_for: Any
) -> None:
    client = make_client()
    flow = flow_for(client)
    for round_ in range(5):
        phone = f"99900000{round_:02d}"
        login_id = flow.request_code(phone)["login_id"]
        code = flow.read_code(phone)
        answers = post_together(client, OTP_INPUT, {"otp": code, "login_id": login_id}, 2)
        assert sorted(a.status_code for a in answers) == [200, 410], round_


def test_twenty_wrong_guesses_at_once_get_three_tries(client: TestClient, flow: Any) -> None:
    login_id = flow.request_code()["login_id"]
    code = flow.read_code()
    answers = post_together(client, OTP_INPUT, {"otp": flow.wrong(code), "login_id": login_id}, 20)
    wrong = [a.json()["attempts_left"] for a in answers if a.status_code == 400]
    assert sorted(wrong) == [0, 1, 2]
    assert sorted(a.status_code for a in answers) == [400] * 3 + [410] * 17
    late = client.post(OTP_INPUT, json={"otp": code, "login_id": login_id})
    assert late.status_code == 410


def test_one_refresh_token_used_twice_at_once_keeps_the_session(
    client: TestClient, flow: Any, accepted: Callable[[str], bool]
) -> None:
    for round_ in range(5):
        token = flow.sign_in(f"99911111{round_:02d}")["refresh_token"]
        answers = post_together(client, REFRESH, {"refresh_token": token}, 2)
        # Two tabs refreshing together: both get the session's next token, nobody is logged out.
        assert [a.status_code for a in answers] == [200, 200], round_
        first, second = (a.json() for a in answers)
        assert first["refresh_token"] == second["refresh_token"], round_
        assert accepted(first["access_token"]) and accepted(second["access_token"])
        again = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert again.status_code == 200, round_


def test_fifty_first_sign_ins_of_one_phone_make_one_user(
    require_postgres: None, make_settings: Any
) -> None:
    settings = make_settings()
    url = settings.auth_database_url
    run_migrations(script_location=MIGRATIONS, url=url)

    async def fifty_at_once() -> list[repository.SignIn]:
        engine = create_db_engine(url, pool_size=25)
        try:
            return list(
                await asyncio.gather(
                    *(repository.record_sign_in(engine, phone="9991234567") for _ in range(50))
                )
            )
        finally:
            await engine.dispose()

    results = asyncio.run(fifty_at_once())
    engine = create_engine(sync_url(url))
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(User)) == 1
    engine.dispose()
    assert len({result.user.id for result in results}) == 1
    assert sum(result.is_new for result in results) == 1
