"""Bans and unlocks through HTTP: a ban ends every session at once and refuses sign-in after a
correct code; lifting it lets the user in again; an unlock clears a real lockout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from auth_service import repository
from auth_service.redis_keys import SIGN_IN_BAR_KEY
from common.redis import redis_from_url

OTP_INPUT = "/authentication/api_otp_input/"
SESSIONS = "/authentication/api_sessions/"
REFRESH = "/authentication/api_token_refresh/"
USERS = "/admin/api/users/"
PHONE = "9991110000"


def ban_url(user_id: int) -> str:
    return f"{USERS}{user_id}/ban/"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def try_code(operator: Any, phone: str = PHONE) -> Any:
    """Request a code and send it back: the answer to a correct code."""
    operator.flow.request_code(phone)
    code = operator.flow.read_code(phone)
    answer = operator.client.post(OTP_INPUT, json={"otp": code, "phone": phone})
    operator.client.cookies.clear()
    return answer, code


def test_a_ban_ends_every_session_at_once_and_refuses_sign_in(
    operator: Any, accepted: Callable[[str], bool], audit_rows: Callable[..., Any], run_sql: Any
) -> None:
    first = operator.sign_in(PHONE)
    second = operator.sign_in(PHONE)
    user_id = first["user"]["id"]
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    login_before = run_sql("SELECT last_login_at FROM app_user WHERE id = :id", id=user_id)

    banned = operator.post(ban_url(user_id), {"reason": "spam", "until": until.isoformat()})

    assert banned.status_code == 200, banned.text
    item = banned.json()
    assert item["banned"] is True and item["ban_reason"] == "spam"
    assert datetime.fromisoformat(item["banned_until"]) == until
    for tokens in (first, second):
        assert not accepted(tokens["access_token"])
        assert (
            operator.client.get(SESSIONS, headers=bearer(tokens["access_token"])).status_code == 401
        )
        dead = operator.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert dead.status_code == 401

    # The number input answers as for anyone; a correct code is then refused.
    refused, code = try_code(operator)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "user_banned"
    assert datetime.fromisoformat(refused.json()["banned_until"]) == until
    assert "set-cookie" not in refused.headers
    # The code is used up.
    again = operator.client.post(OTP_INPUT, json={"otp": code, "phone": PHONE})
    assert again.status_code == 410
    assert run_sql("SELECT last_login_at FROM app_user WHERE id = :id", id=user_id) == login_before

    (refusal,) = audit_rows("sign_in.refused")
    assert refusal["subject_id"] == user_id and refusal["detail"] == {"reason": "banned"}
    (ban,) = audit_rows("ban")
    assert ban["actor_id"] == operator.id and ban["subject_id"] == user_id
    assert ban["detail"]["reason"] == "spam"
    assert datetime.fromisoformat(ban["detail"]["until"]) == until
    (revoked,) = audit_rows("sessions.revoked_all")
    assert revoked["detail"] == {"count": 2, "by": "admin"}
    assert audit_rows("admin.request") == []  # the ban's own row stands for the call


def test_a_sign_in_that_read_the_user_just_before_the_ban_gets_no_session(
    operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ban commits, and ends the sessions, between a sign-in's statement (which saw no ban)
    and the start of its session: that session must not start."""
    user_id = operator.sign_in(PHONE)["user"]["id"]
    operator.flow.request_code(PHONE)
    code = operator.flow.read_code(PHONE)
    operator.client.cookies.clear()
    read_the_user, banned = threading.Event(), threading.Event()
    record_sign_in = repository.record_sign_in

    async def record_then_wait_for_the_ban(*args: Any, **kwargs: Any) -> Any:
        sign_in = await record_sign_in(*args, **kwargs)
        read_the_user.set()
        await anyio.to_thread.run_sync(banned.wait, 10)
        return sign_in

    monkeypatch.setattr(repository, "record_sign_in", record_then_wait_for_the_ban)
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(operator.client.post, OTP_INPUT, json={"otp": code, "phone": PHONE})
        assert read_the_user.wait(10)
        assert operator.post(ban_url(user_id), {"reason": "spam"}).status_code == 200
        banned.set()
        answer = late.result(timeout=10)

    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "user_banned"
    assert operator.get(f"{USERS}{user_id}/").json()["active_sessions"] == 0


def test_a_short_ban_bars_sign_in_no_longer_than_itself(operator: Any, redis_url: str) -> None:
    user_id = operator.sign_in(PHONE)["user"]["id"]
    until = datetime.now(UTC) + timedelta(seconds=30)
    assert (
        operator.post(ban_url(user_id), {"reason": "x", "until": until.isoformat()}).status_code
        == 200
    )
    assert 0 < redis_from_url(redis_url).ttl(SIGN_IN_BAR_KEY.format(user_id=user_id)) <= 30


def test_a_ban_without_end_and_its_lifting(operator: Any, audit_rows: Any) -> None:
    user_id = operator.sign_in(PHONE)["user"]["id"]
    assert operator.post(ban_url(user_id), {"reason": "fraud", "until": None}).status_code == 200

    refused, _ = try_code(operator)
    assert refused.status_code == 403 and refused.json()["banned_until"] is None
    listed = operator.get(USERS, q=PHONE).json()["items"][0]
    assert (listed["banned"], listed["banned_until"]) == (True, None)

    assert operator.delete(ban_url(user_id)).status_code == 204
    assert operator.delete(ban_url(user_id)).status_code == 204  # not banned: still 204
    welcome, _ = try_code(operator)
    assert welcome.status_code == 200, welcome.text
    assert operator.get(USERS, q=PHONE).json()["items"][0]["banned"] is False
    assert [row["actor_id"] for row in audit_rows("unban")] == [operator.id, operator.id]


def test_a_ban_whose_end_has_passed_no_longer_applies(
    operator: Any, run_sql: Any, redis_url: str
) -> None:
    user_id = operator.sign_in(PHONE)["user"]["id"]
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        operator.post(ban_url(user_id), {"reason": "cool off", "until": until}).status_code == 200
    )
    run_sql(
        "UPDATE app_user SET banned_until = :past WHERE id = :id",
        past=datetime.now(UTC) - timedelta(seconds=1),
        id=user_id,
    )
    # The hour has passed for Redis too: the bar the ban set (at most 10 minutes) is gone.
    redis_from_url(redis_url).delete(SIGN_IN_BAR_KEY.format(user_id=user_id))
    welcome, _ = try_code(operator)
    assert welcome.status_code == 200, welcome.text
    item = operator.get(USERS, q=PHONE).json()["items"][0]
    assert (item["banned"], item["banned_until"], item["ban_reason"]) == (False, None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "spam", "until": "2001-01-01T00:00:00Z"},
        {"reason": "spam", "until": "2999-01-01T00:00:00"},  # no offset
        {"reason": "", "until": None},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"until": None},
    ],
)
def test_an_invalid_ban_is_422_and_changes_nothing(operator: Any, body: Any) -> None:
    user = operator.sign_in(PHONE)
    response = operator.post(ban_url(user["user"]["id"]), body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_ban"
    assert operator.client.get(SESSIONS, headers=bearer(user["access_token"])).status_code == 200


def test_no_ban_for_nobody_nor_for_oneself(operator: Any) -> None:
    missing = operator.post(ban_url(424242), {"reason": "spam"})
    assert missing.status_code == 404 and missing.json()["code"] == "user_not_found"
    assert operator.delete(ban_url(424242)).status_code == 404
    itself = operator.post(ban_url(operator.id), {"reason": "oops"})
    assert itself.status_code == 409 and itself.json()["code"] == "cannot_ban_self"


def test_a_ban_with_referral_down_does_nothing(operator: Any) -> None:
    user = operator.sign_in(PHONE)
    operator.referral.down = True
    assert operator.post(ban_url(user["user"]["id"]), {"reason": "spam"}).status_code == 503
    assert operator.client.get(SESSIONS, headers=bearer(user["access_token"])).status_code == 200


def test_bans_work_on_sqlite_too(make_admin: Callable[..., Any], tmp_path: Path) -> None:
    operator = make_admin(auth_database_url=f"sqlite:///{tmp_path / 'auth.db'}")
    user = operator.sign_in(PHONE)
    assert operator.post(ban_url(user["user"]["id"]), {"reason": "spam"}).status_code == 200
    refused, _ = try_code(operator)
    assert refused.status_code == 403 and refused.json()["code"] == "user_banned"
    assert operator.delete(ban_url(user["user"]["id"])).status_code == 204
    welcome, _ = try_code(operator)
    assert welcome.status_code == 200 and welcome.json()["is_new_user"] is False
    assert operator.get(USERS, q="999").status_code == 200
    stats = operator.get("/admin/api/stats/", days=1).json()
    assert stats["series"][0]["sign_ins"] == 3 and stats["totals"]["users"] == 2
    assert operator.get("/admin/api/audit/", type="sign_in.refused").json()["items"]
    mine = operator.get("/admin/api/audit/", user_id=user["user"]["id"], limit=3).json()
    assert [item["type"] for item in mine["items"]] == [
        "sign_in.succeeded",
        "unban",
        "sign_in.refused",
    ]
    assert mine["next"] is not None


def lock_out(operator: Any, phone: str, tries: int) -> str:
    """Fail `tries` codes in a row for `phone`; the last answer's code."""
    flow = operator.flow
    flow.request_code(phone)
    code = flow.read_code(phone)
    answer = None
    for _ in range(tries):
        answer = operator.client.post(OTP_INPUT, json={"otp": flow.wrong(code), "phone": phone})
    assert answer is not None and answer.status_code == 429, answer.text
    return str(answer.json()["code"])


def test_an_unlock_clears_a_lockout_for_one_address(
    make_admin: Callable[..., Any], audit_rows: Any
) -> None:
    operator = make_admin(otp_lockout_failures=2)
    lock_out(operator, PHONE, 2)
    locked = operator.client.post("/authentication/api_number_input/", json={"phone": PHONE})
    assert locked.status_code == 429
    (lockout,) = audit_rows("lockout")
    assert lockout["subject_phone"] == PHONE and lockout["detail"] == {"scope": "client"}

    response = operator.post("/admin/api/phones/+7 (999) 111-00-00/unlock/")

    assert response.status_code == 204, response.text
    welcome, _ = try_code(operator)
    assert welcome.status_code == 200, welcome.text
    (unlock,) = audit_rows("unlock")
    assert unlock["actor_id"] == operator.id and unlock["subject_phone"] == PHONE


def test_an_unlock_clears_the_lockout_for_everyone_and_the_send_caps(
    make_admin: Callable[..., Any],
) -> None:
    operator = make_admin(otp_lockout_failures_per_phone=2, otp_max_per_phone_per_hour=2)
    user_id = operator.sign_in(PHONE)["user"]["id"]
    lock_out(operator, PHONE, 2)
    item = operator.get(USERS, q=PHONE).json()["items"][0]
    assert item["id"] == user_id
    locked_until = datetime.fromisoformat(item["locked_until"])
    assert timedelta(minutes=59) < locked_until - datetime.now(UTC) <= timedelta(hours=1)

    assert operator.post(f"/admin/api/phones/{PHONE}/unlock/").status_code == 204

    assert operator.get(USERS, q=PHONE).json()["items"][0]["locked_until"] is None
    # Two codes were sent this hour, the cap: cleared too, and the cooldown with it.
    welcome, _ = try_code(operator)
    assert welcome.status_code == 200, welcome.text


def test_an_unlock_wants_a_phone(operator: Any) -> None:
    response = operator.post("/admin/api/phones/12345/unlock/")
    assert response.status_code == 422 and response.json()["code"] == "invalid_phone"
