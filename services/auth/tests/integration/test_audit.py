"""The audit rows each auth action leaves, read from the table and through the admin API; and
that nothing updates or deletes them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.audit import ip_hash

OTP_INPUT = "/authentication/api_otp_input/"
SESSIONS = "/authentication/api_sessions/"
LOGOUT = "/authentication/api_logout/"
LOGOUT_ALL = "/authentication/api_logout_all/"
REFRESH = "/authentication/api_token_refresh/"
PHONE = "9991110000"
SOURCE = Path(__file__).resolve().parents[2] / "src" / "auth_service"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_sign_in_leaves_its_row_with_the_hashed_address_and_request_id(
    operator: Any, audit_rows: Callable[..., Any]
) -> None:
    operator.flow.request_code(PHONE)
    code = operator.flow.read_code(PHONE)
    answer = operator.client.post(
        OTP_INPUT, json={"otp": code, "phone": PHONE}, headers={"x-request-id": "req-123"}
    )
    assert answer.status_code == 200
    user_id = answer.json()["user"]["id"]

    rows = audit_rows("sign_in.succeeded")

    assert [row["detail"] for row in rows] == [{"new_user": True}, {"new_user": True}]
    row = rows[-1]
    assert (row["actor_id"], row["subject_id"], row["subject_phone"]) == (user_id, user_id, PHONE)
    assert row["request_id"] == "req-123"
    assert row["ip_hash"] == ip_hash(b"dev-insecure-audit-hash-key", "testclient")
    assert re.fullmatch(r"[0-9a-f]{32}", row["ip_hash"])
    operator.client.cookies.clear()
    operator.sign_in(PHONE)
    assert audit_rows("sign_in.succeeded")[-1]["detail"] == {"new_user": False}


def test_wrong_codes_and_a_lockout_leave_their_rows(
    make_admin: Callable[..., Any], audit_rows: Callable[..., Any]
) -> None:
    operator = make_admin(otp_lockout_failures=2, otp_max_attempts=5)
    flow = operator.flow
    flow.request_code(PHONE)
    code = flow.read_code(PHONE)
    wrong = {"otp": flow.wrong(code), "phone": PHONE}
    assert operator.client.post(OTP_INPUT, json=wrong).status_code == 400
    assert operator.client.post(OTP_INPUT, json=wrong).status_code == 429

    failed = audit_rows("sign_in.failed")
    assert [row["detail"]["reason"] for row in failed] == ["invalid_otp", "attempts_exhausted"]
    assert {row["subject_phone"] for row in failed} == {PHONE}
    (lockout,) = audit_rows("lockout")
    assert lockout["detail"] == {"scope": "client"} and lockout["subject_phone"] == PHONE
    # While locked, tries are refused before any code is checked: no further rows.
    assert operator.client.post(OTP_INPUT, json=wrong).status_code == 429
    assert len(audit_rows("sign_in.failed")) == 2


def test_the_try_that_uses_a_code_up_is_audited_and_later_tries_are_not(
    make_admin: Callable[..., Any], audit_rows: Callable[..., Any]
) -> None:
    operator = make_admin(otp_max_attempts=1)
    flow = operator.flow
    flow.request_code(PHONE)
    code = flow.read_code(PHONE)
    assert (
        operator.client.post(OTP_INPUT, json={"otp": flow.wrong(code), "phone": PHONE}).status_code
        == 400
    )
    # Tries at a void code are not capped: each would be a row, so none is written.
    for _ in range(3):
        response = operator.client.post(OTP_INPUT, json={"otp": code, "phone": PHONE})
        assert response.status_code == 410
    reasons = [row["detail"]["reason"] for row in audit_rows("sign_in.failed")]
    assert reasons == ["attempts_exhausted"]


def test_logout_session_revocations_and_reuse_leave_their_rows(
    operator: Any, audit_rows: Callable[..., Any]
) -> None:
    one = operator.sign_in(PHONE)
    two = operator.sign_in(PHONE)
    operator.sign_in(PHONE)
    user_id = one["user"]["id"]

    assert (
        operator.client.post(LOGOUT, json={"refresh_token": one["refresh_token"]}).status_code
        == 204
    )
    sessions = operator.client.get(SESSIONS, headers=bearer(two["access_token"])).json()["items"]
    other = next(item["id"] for item in sessions if not item["current"])
    deleted = operator.client.delete(f"{SESSIONS}{other}/", headers=bearer(two["access_token"]))
    assert deleted.status_code == 204
    rotated = operator.client.post(REFRESH, json={"refresh_token": two["refresh_token"]})
    assert rotated.status_code == 200
    operator.client.cookies.clear()
    operator.client.post(REFRESH, json={"refresh_token": two["refresh_token"]})  # in the grace
    fresh = operator.sign_in(PHONE)
    all_gone = operator.client.post(LOGOUT_ALL, headers=bearer(fresh["access_token"]))
    assert all_gone.status_code == 204

    (logout,) = audit_rows("logout")
    assert (logout["actor_id"], logout["subject_id"]) == (user_id, user_id)
    assert set(logout["detail"]) == {"session_id"}
    (revoked,) = audit_rows("session.revoked")
    assert revoked["detail"] == {"session_id": other, "by": "user"}
    (everything,) = audit_rows("sessions.revoked_all")
    assert everything["detail"] == {"count": 2, "by": "user"}  # `two` (rotated) and `fresh`


def test_a_reused_refresh_token_leaves_a_revocation_by_reuse(
    make_admin: Callable[..., Any], audit_rows: Callable[..., Any]
) -> None:
    operator = make_admin(refresh_reuse_grace_seconds=0)
    tokens = operator.sign_in(PHONE)
    assert (
        operator.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code
        == 200
    )
    operator.client.cookies.clear()
    reused = operator.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    (row,) = audit_rows("session.revoked")
    assert row["subject_id"] == tokens["user"]["id"] and row["detail"]["by"] == "reuse"


def test_admin_reads_leave_admin_request_rows(
    operator: Any, audit_rows: Callable[..., Any]
) -> None:
    user_id = operator.sign_in(PHONE)["user"]["id"]
    operator.get("/admin/api/users/", q="999")
    operator.get(f"/admin/api/users/{user_id}/")
    operator.get("/admin/api/users/777777/")
    operator.get("/admin/api/stats/", days=0)

    rows = audit_rows("admin.request")

    assert [row["detail"] for row in rows] == [
        {"method": "GET", "path": "/admin/api/users/", "status": 200},
        {"method": "GET", "path": f"/admin/api/users/{user_id}/", "status": 200},
        {"method": "GET", "path": "/admin/api/users/777777/", "status": 404},
        {"method": "GET", "path": "/admin/api/stats/", "status": 422},
    ]
    assert {row["actor_id"] for row in rows} == {operator.id}
    assert [row["subject_id"] for row in rows] == [None, user_id, 777777, None]
    # Through the API, with the newest first.
    listed = operator.get("/admin/api/audit/", type="admin.request").json()["items"]
    assert [item["detail"]["status"] for item in listed] == [422, 404, 200, 200]
    assert listed[0]["id"].startswith("auth-")


def test_nothing_updates_or_deletes_audit_rows(operator: Any) -> None:
    code = "\n".join(path.read_text() for path in SOURCE.rglob("*.py"))
    assert not re.search(r"(update|delete)\(\s*AUDIT\b|AUDIT\.(update|delete)", code)
    assert not re.search(r"(?i)(update|delete\s+from)\s+audit_event", code)
    paths = operator.client.get("/openapi.json").json()["paths"]
    audit_paths = {path: set(methods) for path, methods in paths.items() if "audit" in path}
    assert audit_paths == {"/admin/api/audit/": {"get"}}
