"""The operators' API through the public URLs, in both run modes: who may call it, search, a
user's card, ban and unban (an issued token is refused at once, a sign-in answers 403), unlock
after a real lockout, the day's statistics and the audit log of every action."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.client import Session, activate, new_phone, profile, read_sms_code, sign_in
from tests.e2e.conftest import ADMIN_PHONE, Operator

pytestmark = pytest.mark.e2e

USERS = "/admin/api/users/"
STATS = "/admin/api/stats/"
AUDIT = "/admin/api/audit/"
OTP_INPUT = "/authentication/api_otp_input/"
NUMBER_INPUT = "/authentication/api_number_input/"
# One signed-in URL of each service.
EVERY_SERVICE = (
    "/authentication/api_sessions/",
    "/profile/api_profile/",
    "/referral_system/api_invited_users/",
    "/referral_system/api_referral_stats/",
)


def user_url(user_id: int) -> str:
    return f"{USERS}{user_id}/"


def ban_url(user_id: int) -> str:
    return f"{USERS}{user_id}/ban/"


def unlock_url(phone: str) -> str:
    return f"/admin/api/phones/{phone}/unlock/"


def get(client: httpx.Client, operator: Operator, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params, headers=operator.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def invited(client: httpx.Client, inviter: Session) -> Session:
    """A new user who activates `inviter`'s code."""
    invitee = sign_in(client)
    response = activate(client, invitee, profile(client, inviter)["invite_code"])
    assert response.status_code == 200, response.text
    return invitee


def ask_for_code(client: httpx.Client, phone: str) -> httpx.Response:
    """Asks for a code, waiting out the short resend cooldown of the run."""
    deadline = time.monotonic() + 10
    while True:
        response = client.post(NUMBER_INPUT, json={"phone": phone})
        if response.status_code != 429 or time.monotonic() > deadline:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))


def enter_code(client: httpx.Client, phone: str) -> httpx.Response:
    """Asks for a code and enters it; cookies are not relied on."""
    sent = ask_for_code(client, phone)
    assert sent.status_code == 200, sent.text
    code = read_sms_code(client, phone)
    response = client.post(OTP_INPUT, json={"otp": code, "login_id": sent.json()["login_id"]})
    client.cookies.clear()
    return response


def statuses(client: httpx.Client, session: Session) -> list[int]:
    return [client.get(url, headers=session.headers).status_code for url in EVERY_SERVICE]


def admin_calls(user_id: int, phone: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", USERS, None),
        ("GET", user_url(user_id), None),
        ("POST", ban_url(user_id), {"reason": "spam", "until": None}),
        ("DELETE", ban_url(user_id), None),
        ("POST", unlock_url(phone), None),
        ("GET", f"{STATS}?days=7", None),
        ("GET", AUDIT, None),
    ]


def test_every_admin_url_refuses_a_stranger_and_a_user_without_the_role(
    client: httpx.Client, operator: Operator
) -> None:
    user = sign_in(client)
    for method, url, body in admin_calls(user.user_id, user.phone):
        stranger = client.request(method, url, json=body)
        assert stranger.status_code == 401, (method, url, stranger.text)
        assert stranger.json()["code"] == "not_authenticated"
        refused = client.request(method, url, json=body, headers=user.headers)
        assert refused.status_code == 403, (method, url, refused.text)
        assert refused.json()["code"] == "forbidden"
    # Nothing of it happened: the user is not banned and still signed in.
    assert statuses(client, user) == [200] * len(EVERY_SERVICE)
    assert get(client, operator, user_url(user.user_id))["banned"] is False


def test_search_finds_users_by_phone_prefix_and_by_id_with_their_invites(
    client: httpx.Client, operator: Operator
) -> None:
    inviter = sign_in(client)
    invitee = invited(client, inviter)
    inviter_code = profile(client, inviter)["invite_code"]
    invitee_code = profile(client, invitee)["invite_code"]

    by_prefix = get(client, operator, USERS, q=invitee.phone[:7])
    found = {item["id"]: item for item in by_prefix["items"]}
    assert invitee.user_id in found
    assert all(item["phone"].startswith(invitee.phone[:7]) for item in by_prefix["items"])
    item = found[invitee.user_id]
    assert item["phone"] == invitee.phone
    assert item["invite_code"] == invitee_code
    assert item["activated_invite_code"] == inviter_code
    assert item["invited_count"] == 0
    assert (item["banned"], item["banned_until"], item["locked_until"]) == (False, None, None)
    assert item["created_at"] and item["last_login_at"]

    # A whole number in any accepted format finds exactly that phone.
    spelled = (
        f"+7 ({inviter.phone[:3]}) {inviter.phone[3:6]}-{inviter.phone[6:8]}-{inviter.phone[8:]}"
    )
    exact = get(client, operator, USERS, q=spelled)["items"]
    assert [entry["id"] for entry in exact] == [inviter.user_id]
    assert exact[0]["invited_count"] == 1
    assert exact[0]["invite_code"] == inviter_code

    by_id = get(client, operator, USERS, q=str(inviter.user_id))["items"]
    assert by_id[0]["id"] == inviter.user_id
    assert by_id[0]["phone"] == inviter.phone

    response = client.get(USERS, params={"q": "abc"}, headers=operator.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_query"


def test_the_user_list_pages_newest_first(client: httpx.Client, operator: Operator) -> None:
    older, newer = sign_in(client), sign_in(client)

    first = get(client, operator, USERS, limit=1)
    second = get(client, operator, USERS, limit=1, cursor=first["next"])

    assert [item["id"] for item in first["items"]] == [newer.user_id]
    assert [item["id"] for item in second["items"]] == [older.user_id]
    assert second["next"]
    bad = client.get(USERS, params={"cursor": "not-a-cursor"}, headers=operator.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


def test_the_user_card_shows_the_inviter_chain_and_the_invitees(
    client: httpx.Client, operator: Operator
) -> None:
    root = sign_in(client)
    middle = invited(client, root)
    leaf = invited(client, middle)

    leaf_card = get(client, operator, user_url(leaf.user_id))
    middle_card = get(client, operator, user_url(middle.user_id))
    root_card = get(client, operator, user_url(root.user_id))

    assert [entry["id"] for entry in leaf_card["inviter_chain"]] == [middle.user_id, root.user_id]
    assert [entry["phone"] for entry in leaf_card["inviter_chain"]] == [middle.phone, root.phone]
    assert leaf_card["inviter_chain"][1]["invite_code"] == profile(client, root)["invite_code"]
    assert [entry["id"] for entry in middle_card["invitees"]] == [leaf.user_id]
    assert [entry["id"] for entry in middle_card["inviter_chain"]] == [root.user_id]
    assert [entry["id"] for entry in root_card["invitees"]] == [middle.user_id]
    assert root_card["inviter_chain"] == []
    assert root_card["invitees"][0]["phone"] == middle.phone
    assert root_card["invitees_next"] is None
    assert root_card["invited_count"] == 1
    assert leaf_card["active_sessions"] == 1
    assert len(leaf_card["sessions"]) == 1
    assert set(leaf_card["sessions"][0]) >= {"id", "created_at", "last_used_at", "user_agent"}

    missing = client.get(user_url(2**63 - 1), headers=operator.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"


def test_a_ban_refuses_the_users_token_at_once_and_their_sign_in_until_it_is_lifted(
    client: httpx.Client, operator: Operator
) -> None:
    user = sign_in(client)
    profile(client, user)  # the other services have seen and remembered its token
    assert statuses(client, user) == [200] * len(EVERY_SERVICE)

    banned = client.post(
        ban_url(user.user_id), json={"reason": "spam", "until": None}, headers=operator.headers
    )

    assert banned.status_code == 200, banned.text
    item = banned.json()
    assert (item["id"], item["banned"], item["ban_reason"]) == (user.user_id, True, "spam")
    assert item["banned_until"] is None
    assert statuses(client, user) == [401] * len(EVERY_SERVICE)
    refused = enter_code(client, user.phone)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "user_banned"
    assert refused.json()["banned_until"] is None
    assert get(client, operator, user_url(user.user_id))["active_sessions"] == 0

    lifted = client.delete(ban_url(user.user_id), headers=operator.headers)

    assert lifted.status_code == 204, lifted.text
    assert client.delete(ban_url(user.user_id), headers=operator.headers).status_code == 204
    again = enter_code(client, user.phone)
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == user.user_id
    assert get(client, operator, user_url(user.user_id))["banned"] is False


def test_a_ban_with_an_end_keeps_it_and_a_past_end_or_the_operator_is_refused(
    client: httpx.Client, operator: Operator
) -> None:
    user = sign_in(client)
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)

    banned = client.post(
        ban_url(user.user_id),
        json={"reason": "cool down", "until": until.isoformat()},
        headers=operator.headers,
    )

    assert banned.status_code == 200, banned.text
    ends = datetime.fromisoformat(banned.json()["banned_until"].replace("Z", "+00:00"))
    assert ends == until
    refused = enter_code(client, user.phone)
    assert refused.status_code == 403, refused.text
    assert datetime.fromisoformat(refused.json()["banned_until"].replace("Z", "+00:00")) == until

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    other = sign_in(client)
    late = client.post(
        ban_url(other.user_id), json={"reason": "x", "until": past}, headers=operator.headers
    )
    assert late.status_code == 422
    assert late.json()["code"] == "invalid_ban"
    assert statuses(client, other) == [200] * len(EVERY_SERVICE)
    self_ban = client.post(
        ban_url(operator.user_id), json={"reason": "x", "until": None}, headers=operator.headers
    )
    assert self_ban.status_code == 409
    assert self_ban.json()["code"] == "cannot_ban_self"
    client.delete(ban_url(user.user_id), headers=operator.headers)


def lock_out(client: httpx.Client, phone: str) -> httpx.Response:
    """Wrong codes in a row until the phone is locked for this client; its answer."""
    for _ in range(5):
        sent = ask_for_code(client, phone)
        assert sent.status_code == 200, sent.text
        code = read_sms_code(client, phone)
        wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
        for _ in range(3):
            response = client.post(
                OTP_INPUT, json={"otp": wrong, "login_id": sent.json()["login_id"]}
            )
            if response.status_code == 429:
                client.cookies.clear()
                return response
            assert response.status_code in (400, 410), response.text
            if response.status_code == 410:
                break
    pytest.fail("wrong codes in a row did not lock the phone")


def test_unlock_clears_a_real_lockout(client: httpx.Client, operator: Operator) -> None:
    phone = new_phone()
    locked = lock_out(client, phone)
    assert locked.json()["code"] == "too_many_requests"
    # Locked for this client: no new code either.
    assert client.post(NUMBER_INPUT, json={"phone": phone}).status_code == 429

    response = client.post(unlock_url(phone), headers=operator.headers)

    assert response.status_code == 204, response.text
    signed_in = enter_code(client, phone)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["phone"] == phone
    bad = client.post(unlock_url("12345"), headers=operator.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_phone"


def today(stats: dict[str, Any]) -> dict[str, Any]:
    day = stats["series"][-1]
    assert day["date"] == stats["to"] == datetime.now(UTC).date().isoformat()
    return dict(day)


def test_the_stats_count_the_days_sign_ins_new_users_and_activations(
    client: httpx.Client, operator: Operator
) -> None:
    before = get(client, operator, STATS, days=7)

    inviter = sign_in(client)
    invited(client, inviter)
    sign_in(client, inviter.phone)

    after = get(client, operator, STATS, days=7)
    assert after["days"] == 7
    assert len(after["series"]) == 7
    dates = [day["date"] for day in after["series"]]
    assert dates == sorted(dates) and dates[0] == after["from"]
    gained = {
        name: today(after)[name] - today(before)[name]
        for name in ("sign_ins", "new_users", "otp_sends", "activations")
    }
    assert gained == {"sign_ins": 3, "new_users": 2, "otp_sends": 3, "activations": 1}
    for name, count in gained.items():
        assert after["totals"][name] - before["totals"][name] == count, name
    assert after["totals"]["users"] - before["totals"]["users"] == 2
    top = {entry["id"]: entry for entry in after["top_inviters"]}
    if len(after["top_inviters"]) < 10:
        assert top[inviter.user_id]["invited_count"] == 1
    bad = client.get(STATS, params={"days": 0}, headers=operator.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_days"


def audit(client: httpx.Client, operator: Operator, **filters: Any) -> list[dict[str, Any]]:
    return list(get(client, operator, AUDIT, **filters)["items"])


def test_the_audit_log_shows_each_action_with_its_actor(
    client: httpx.Client, operator: Operator
) -> None:
    inviter = sign_in(client)
    user = invited(client, inviter)
    client.post(
        ban_url(user.user_id), json={"reason": "fraud", "until": None}, headers=operator.headers
    )
    client.delete(ban_url(user.user_id), headers=operator.headers)
    client.post(unlock_url(user.phone), headers=operator.headers)

    entries = audit(client, operator, user_id=user.user_id)
    kinds = [entry["type"] for entry in entries]
    assert {"ban", "unban", "activation.succeeded", "sign_in.succeeded"} <= set(kinds)
    # Newest first.
    assert kinds.index("unban") < kinds.index("ban") < kinds.index("activation.succeeded")
    ban = entries[kinds.index("ban")]
    assert (ban["actor_id"], ban["subject_id"]) == (operator.user_id, user.user_id)
    assert ban["detail"]["reason"] == "fraud"
    unban = entries[kinds.index("unban")]
    assert (unban["actor_id"], unban["subject_id"]) == (operator.user_id, user.user_id)
    activation = entries[kinds.index("activation.succeeded")]
    assert activation["id"].startswith("referral-")
    assert (activation["actor_id"], activation["subject_id"]) == (user.user_id, user.user_id)
    assert activation["detail"]["inviter_id"] == inviter.user_id
    assert ban["id"].startswith("auth-")

    unlocks = audit(client, operator, type="unlock")
    mine = [entry for entry in unlocks if entry["subject_phone"] == user.phone]
    assert mine and mine[0]["actor_id"] == operator.user_id
    assert all(entry["type"] == "unlock" for entry in unlocks)

    reads = audit(client, operator, type="admin.request", user_id=operator.user_id)
    assert reads and all(entry["actor_id"] == operator.user_id for entry in reads)
    assert {entry["detail"]["method"] for entry in reads} >= {"GET"}

    first = get(client, operator, AUDIT, user_id=user.user_id, limit=2)
    second = get(client, operator, AUDIT, user_id=user.user_id, limit=2, cursor=first["next"])
    paged = first["items"] + second["items"]
    assert len({entry["id"] for entry in paged}) == 4
    moments = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in paged]
    assert moments == sorted(moments, reverse=True)
    # The second page holds rows older than the first: they were all there before.
    assert {entry["id"] for entry in second["items"]} <= {entry["id"] for entry in entries}
    bad = client.get(AUDIT, params={"type": "nothing"}, headers=operator.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_type"


def test_the_operator_is_the_phone_the_run_named(operator: Operator, client: httpx.Client) -> None:
    item = get(client, operator, USERS, q=ADMIN_PHONE)["items"][0]
    assert (item["id"], item["phone"]) == (operator.user_id, ADMIN_PHONE)
