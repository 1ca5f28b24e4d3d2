"""The admin API through HTTP: operators only, search and paging, the user card, stats and the
merged audit log, with referral's side answered by an in-process fake of its internal routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

USERS = "/admin/api/users/"
STATS = "/admin/api/stats/"
AUDIT = "/admin/api/audit/"
REFRESH = "/authentication/api_token_refresh/"
ADMIN_URLS = [
    ("GET", "/admin/api/users/"),
    ("GET", "/admin/api/users/1/"),
    ("POST", "/admin/api/users/1/ban/"),
    ("DELETE", "/admin/api/users/1/ban/"),
    ("POST", "/admin/api/phones/9991234567/unlock/"),
    ("GET", "/admin/api/stats/"),
    ("GET", "/admin/api/audit/"),
]


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@pytest.mark.parametrize(("method", "path"), ADMIN_URLS)
def test_every_admin_url_wants_a_token_with_the_admin_role(
    operator: Any, method: str, path: str, audit_rows: Callable[..., Any]
) -> None:
    client = operator.client
    body = {"reason": "spam"} if path.endswith("/ban/") and method == "POST" else None

    anonymous = client.request(method, path, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "not_authenticated"

    user = operator.sign_in("9991112233")
    refused = client.request(
        method, path, json=body, headers={"authorization": f"Bearer {user['access_token']}"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"detail": refused.json()["detail"], "code": "forbidden"}
    # The refused try of a signed-in user is audited with who it was; the anonymous one not.
    (row,) = audit_rows("admin.request")
    assert row["actor_id"] == user["user"]["id"]
    assert row["detail"] == {"method": method, "path": path, "status": 403}
    assert operator.referral.requests == []


def test_the_admin_role_is_minted_at_sign_in_and_refresh_for_admin_phones_only(
    operator: Any,
) -> None:
    assert claims(operator.tokens["access_token"])["roles"] == ["admin"]
    refreshed = operator.client.post(
        REFRESH, json={"refresh_token": operator.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["roles"] == ["admin"]
    assert "roles" not in claims(operator.sign_in("9991112233")["access_token"])


def test_without_a_query_every_user_is_listed_newest_first_in_pages(operator: Any) -> None:
    ids = [operator.sign_in(f"99911100{n:02d}")["user"]["id"] for n in range(5)]
    everyone = [*reversed(ids), operator.id]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = operator.get(USERS, **params)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        seen += [item["id"] for item in response.json()["items"]]
        cursor, pages = response.json()["next"], pages + 1
        if cursor is None:
            break
    assert seen == everyone and pages == 3


def test_a_phone_prefix_finds_its_users_in_phone_order_in_pages(operator: Any) -> None:
    for phone in ("9995550003", "9995550001", "9995560000", "9995550002"):
        operator.sign_in(phone)

    first = operator.get(USERS, q="(999) 55", limit=2).json()
    assert [item["phone"] for item in first["items"]] == ["9995550001", "9995550002"]
    second = operator.get(USERS, q="(999) 55", limit=2, cursor=first["next"]).json()
    assert [item["phone"] for item in second["items"]] == ["9995550003", "9995560000"]
    assert second["next"] is None
    # Eleven digits with the trunk prefix are a whole phone; fewer are digits as typed.
    for q in ("8 999 555 00 02", "+7 (999) 555-00-02"):
        whole = operator.get(USERS, q=q).json()["items"]
        assert [item["phone"] for item in whole] == ["9995550002"]
    # `+7` is the country code: the prefix is 999555.
    found = operator.get(USERS, q="+7 (999) 555").json()["items"]
    assert [item["phone"] for item in found] == ["9995550001", "9995550002", "9995550003"]


def test_an_id_finds_its_user_first_on_the_first_page_only(operator: Any) -> None:
    users = [operator.sign_in(f"99911100{n:02d}")["user"] for n in range(3)]
    # "1" is the operator's id (the first user) and also a phone prefix of nobody here;
    # the id of the third user is also a prefix of no phone: it is found as an id.
    target = users[2]
    found = operator.get(USERS, q=str(target["id"])).json()
    assert found["items"][0]["id"] == target["id"]
    # A prefix that is also an id: the user with that id first, then the phones, not repeated.
    by_prefix = operator.get(USERS, q="9", limit=2).json()
    phones = [item["phone"] for item in by_prefix["items"]]
    rest = operator.get(USERS, q="9", limit=2, cursor=by_prefix["next"]).json()
    listed = phones + [item["phone"] for item in rest["items"]]
    assert sorted(listed) == sorted(["9990000001", *(u["phone"] for u in users)])
    assert len(set(listed)) == len(listed)


def test_the_id_match_is_not_repeated_among_the_phones(operator: Any, run_sql: Any) -> None:
    user = operator.sign_in("9991110000")["user"]
    # Give the user an id that is also a prefix of its own phone.
    run_sql("UPDATE app_user SET id = 999 WHERE id = :id", id=user["id"])
    first = operator.get(USERS, q="999", limit=1).json()
    assert [item["id"] for item in first["items"]] == [999]
    rest = operator.get(USERS, q="999", cursor=first["next"]).json()
    assert [item["phone"] for item in rest["items"]] == ["9990000001"]  # the operator only


def test_bad_queries_and_cursors_are_refused(operator: Any) -> None:
    bad_query = operator.get(USERS, q="alice")
    assert bad_query.status_code == 422 and bad_query.json()["code"] == "invalid_query"
    for cursor in ("not-a-cursor", "eyJpZCI6LTF9", "e30"):
        bad = operator.get(USERS, cursor=cursor)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor", cursor
    assert operator.get(USERS, limit=101).json()["code"] == "invalid_query"
    assert operator.get(AUDIT, cursor="bm9wZQ").json()["code"] == "invalid_cursor"


def test_a_list_item_carries_referral_data_bans_and_lockouts(operator: Any) -> None:
    member = operator.sign_in("9991110000")["user"]
    stranger = operator.sign_in("9991110001")["user"]
    operator.referral.members[member["id"]] = {
        "invite_code": "AbC123",
        "activated_invite_code": "ZZZ999",
        "invited_count": 4,
    }

    items = {item["id"]: item for item in operator.get(USERS, q="999111").json()["items"]}

    assert items[member["id"]] | {"created_at": None, "last_login_at": None} == {
        "id": member["id"],
        "phone": "9991110000",
        "created_at": None,
        "last_login_at": None,
        "invite_code": "AbC123",
        "activated_invite_code": "ZZZ999",
        "invited_count": 4,
        "banned": False,
        "banned_until": None,
        "ban_reason": None,
        "locked_until": None,
    }
    created = datetime.fromisoformat(items[member["id"]]["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    assert items[stranger["id"]]["invite_code"] is None
    assert items[stranger["id"]]["invited_count"] == 0
    # One referral call for the page, with the operator's own token.
    (call,) = [r for r in operator.referral.requests if r.url.path == "/internal/admin/members"]
    assert call.headers["authorization"] == operator.headers["authorization"]
    assert call.headers["x-request-id"]


def test_the_user_card_has_the_tree_the_sessions_and_a_404_for_nobody(operator: Any) -> None:
    operator.client.headers["user-agent"] = "Phone/1.0"
    user = operator.sign_in("9991110000")["user"]
    operator.referral.members[user["id"]] = {
        "invite_code": "AbC123",
        "activated_invite_code": "ZZZ999",
        "invited_count": 1,
        "inviter_chain": [{"id": 7, "phone": "9990000007", "invite_code": "ZZZ999"}],
        "invitees": [{"id": 9, "phone": "9990000009", "activated_at": "2026-12-01T10:00:00Z"}],
        "invitees_next": "cursor-from-referral",
    }

    card = operator.get(f"{USERS}{user['id']}/")

    assert card.status_code == 200, card.text
    body = card.json()
    assert body["inviter_chain"] == [{"id": 7, "phone": "9990000007", "invite_code": "ZZZ999"}]
    assert [invitee["id"] for invitee in body["invitees"]] == [9]
    assert body["invitees_next"] == "cursor-from-referral"
    assert body["active_sessions"] == 1
    assert [session["user_agent"] for session in body["sessions"]] == ["Phone/1.0"]
    assert set(body["sessions"][0]) == {"id", "created_at", "last_used_at", "user_agent"}
    assert body["invite_code"] == "AbC123" and body["banned"] is False

    for missing in ("123456", "0", "abc", str(2**63)):
        gone = operator.get(f"{USERS}{missing}/")
        assert gone.status_code == 404 and gone.json()["code"] == "user_not_found", missing
    # A user referral never saw has an empty tree.
    unseen = operator.get(f"{USERS}{operator.id}/").json()
    assert (unseen["invite_code"], unseen["inviter_chain"], unseen["invitees"]) == (None, [], [])


def test_referral_down_is_503_upstream_unavailable(operator: Any) -> None:
    operator.referral.down = True
    for path in (USERS, f"{USERS}{operator.id}/", STATS, AUDIT):
        response = operator.get(path)
        assert response.status_code == 503, path
        assert response.json()["code"] == "upstream_unavailable"


def test_stats_count_real_events_per_day_with_referral_s_numbers(
    make_admin: Callable[..., Any],
) -> None:
    operator = make_admin(otp_lockout_failures=2)
    operator.sign_in("9991110000")
    operator.sign_in("9991110000")  # a second sign-in, no new user
    flow = operator.flow
    flow.request_code("9991110001")
    code = flow.read_code("9991110001")
    for _ in range(2):
        operator.client.post(
            "/authentication/api_otp_input/", json={"otp": flow.wrong(code), "phone": "9991110001"}
        )
    today = datetime.now(UTC).date()
    operator.referral.activations[today] = (3, {"invalid_code": 2, "self_activation": 1})
    operator.referral.activations[today - timedelta(days=1)] = (1, {"invalid_code": 1})
    operator.referral.top_inviters = [
        {"id": 5, "phone": "9990000005", "invite_code": "AbC123", "invited_count": 3}
    ]

    response = operator.get(STATS, days=7)

    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["days"], stats["to"]) == (7, today.isoformat())
    assert stats["from"] == (today - timedelta(days=6)).isoformat()
    assert [day["date"] for day in stats["series"]] == [
        (today - timedelta(days=back)).isoformat() for back in range(6, -1, -1)
    ]
    assert stats["series"][-1] == {
        "date": today.isoformat(),
        "sign_ins": 3,  # the operator's and the two of 9991110000
        "new_users": 2,
        "otp_sends": 4,
        "lockouts": 1,
        "activations": 3,
        "refused": {"invalid_code": 2, "self_activation": 1},
    }
    assert stats["series"][0]["sign_ins"] == 0 and stats["series"][0]["refused"] == {}
    assert stats["totals"] == {
        "sign_ins": 3,
        "new_users": 2,
        "otp_sends": 4,
        "lockouts": 1,
        "activations": 4,
        "refused_activations": 4,
        "users": 2,
    }
    assert stats["refused_by_reason"] == {"invalid_code": 3, "self_activation": 1}
    assert stats["top_inviters"] == operator.referral.top_inviters
    for days in (0, 366, "x"):
        bad = operator.get(STATS, days=days)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_days"


def test_the_audit_log_merges_both_sources_in_time_order_across_pages(operator: Any) -> None:
    # Auth's rows so far: the operator's sign-in. Interleave referral's rows in time with
    # more auth rows written now.
    start = datetime.now(UTC) - timedelta(minutes=10)
    operator.referral.add_audit("activation.succeeded", start, actor_id=1, subject_id=1)
    operator.sign_in("9991110000")
    operator.sign_in("9991110001")
    later = datetime.now(UTC) + timedelta(minutes=10)
    operator.referral.add_audit(
        "activation.refused", later, detail={"reason": "invalid_code", "invite_code": "X"}
    )

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = operator.get(AUDIT, **params).json()
        seen += page["items"]
        cursor = page["next"]
        if cursor is None:
            break

    # Every earlier admin call (the pages read here) writes its row after it answered, so the
    # pages hold the sign-ins, then admin.request rows of the first pages, in any order.
    types = [item["type"] for item in seen]
    assert types[0] == "activation.refused" and types[-1] == "activation.succeeded"
    assert types.count("sign_in.succeeded") == 3
    times = [datetime.fromisoformat(item["at"]) for item in seen]
    assert times == sorted(times, reverse=True)
    assert len({item["id"] for item in seen}) == len(seen)
    assert {item["id"].split("-")[0] for item in seen} == {"auth", "referral"}
    assert set(seen[0]) == {
        "id",
        "at",
        "type",
        "actor_id",
        "subject_id",
        "subject_phone",
        "ip_hash",
        "request_id",
        "detail",
    }


def test_a_type_filter_asks_only_the_source_that_writes_it(operator: Any) -> None:
    operator.referral.add_audit("activation.succeeded", datetime.now(UTC), actor_id=5)

    ours = operator.get(AUDIT, type="sign_in.succeeded").json()["items"]
    assert [item["type"] for item in ours] == ["sign_in.succeeded"]
    assert operator.referral.paths() == []

    theirs = operator.get(AUDIT, type="activation.succeeded").json()["items"]
    assert [item["id"] for item in theirs] == ["referral-1"]
    (call,) = operator.referral.requests
    assert call.url.params["type"] == "activation.succeeded"

    unknown = operator.get(AUDIT, type="nonsense")
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_type"


def test_the_user_filter_matches_actor_or_subject(operator: Any) -> None:
    user = operator.sign_in("9991110000")["user"]
    operator.referral.add_audit("activation.succeeded", datetime.now(UTC), subject_id=user["id"])
    operator.get(f"{USERS}{user['id']}/")  # the operator looks at the user: subject

    items = operator.get(AUDIT, user_id=user["id"]).json()["items"]

    assert {item["type"] for item in items} == {
        "sign_in.succeeded",
        "activation.succeeded",
        "admin.request",
    }
    assert operator.referral.requests[-1].url.params["user_id"] == str(user["id"])
