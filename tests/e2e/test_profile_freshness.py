"""The stored profile is never stale after a change was answered (contract §4), in both modes.

Profiles are read from a stored document; an activation invalidates the invitee's and the
inviter's. These tests race activations against a stream of profile reads that keeps the
documents being rebuilt, and check every profile read after each 200.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.client import Session, activate, profile, sign_in

pytestmark = pytest.mark.e2e

INVITEES = 12


def test_concurrent_activations_show_at_once_in_both_profiles(
    base_url: str, client: httpx.Client
) -> None:
    inviter = sign_in(client)
    code = profile(client, inviter)["invite_code"]
    invitees = [sign_in(client) for _ in range(INVITEES)]
    for invitee in invitees:
        assert profile(client, invitee)["activated_invite_code"] is None  # stored, then stale

    stop = threading.Event()

    def keep_reading_the_inviter() -> int:
        reads = 0
        with httpx.Client(base_url=base_url, timeout=10) as reader:
            while not stop.is_set():
                assert profile(reader, inviter)["invite_code"] == code
                reads += 1
        return reads

    def join(invitee: Session) -> None:
        with httpx.Client(base_url=base_url, timeout=10) as own:
            response = activate(own, invitee, code)
            assert response.status_code == 200, response.text
            # Answered: from now on both profiles must show it, whoever reads them.
            assert profile(own, invitee)["activated_invite_code"] == code
            listed = {user["id"] for user in profile(own, inviter)["invited_users"]}
            assert invitee.user_id in listed

    with ThreadPoolExecutor(max_workers=INVITEES + 2) as pool:
        readers = [pool.submit(keep_reading_the_inviter) for _ in range(2)]
        joins = [pool.submit(join, invitee) for invitee in invitees]
        for future in joins:
            future.result(timeout=60)
        stop.set()
        assert all(reader.result(timeout=30) > 0 for reader in readers)

    final = profile(client, inviter)
    assert final["invited_count"] == INVITEES
    assert {user["id"] for user in final["invited_users"]} == {i.user_id for i in invitees}


def test_a_repeated_activation_changes_nothing_in_the_profiles(client: httpx.Client) -> None:
    inviter, invitee = sign_in(client), sign_in(client)
    code = profile(client, inviter)["invite_code"]
    first = activate(client, invitee, code)
    again = activate(client, invitee, code)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert profile(client, inviter)["invited_count"] == 1
    assert profile(client, invitee)["activated_invite_code"] == code


def test_a_stored_profile_is_not_served_after_logout(client: httpx.Client) -> None:
    session = sign_in(client)
    profile(client, session)  # stored
    assert client.post("/authentication/api_logout/", headers=session.headers).status_code == 204

    response = client.get("/profile/api_profile/", headers=session.headers)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
