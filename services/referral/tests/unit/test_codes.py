import secrets
import string

import pytest

from referral_service import codes


def test_codes_are_six_characters_of_the_alphabet() -> None:
    drawn = [codes.new_invite_code() for _ in range(2000)]

    assert all(len(code) == 6 for code in drawn)
    assert set("".join(drawn)) == set(string.ascii_letters + string.digits)


def test_codes_do_not_repeat_in_practice() -> None:
    drawn = [codes.new_invite_code() for _ in range(5000)]

    # 62**6 codes: a repeat among 5000 has a probability of about 2e-4.
    assert len(set(drawn)) >= len(drawn) - 1


def test_codes_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter("Ab3xY9")
    monkeypatch.setattr(secrets, "choice", lambda alphabet: next(picks))

    assert codes.new_invite_code() == "Ab3xY9"
