"""The request-level rules that need no database: code format and page limits."""

import pytest
from pydantic import ValidationError

from referral_service.errors import InvalidLimit
from referral_service.schemas import ActivationRequest
from referral_service.service import page_limit


@pytest.mark.parametrize("code", ["5L7opy", "AAAAAA", "zzzzzz", "000000", "a1B2c3"])
def test_six_ascii_letters_or_digits_are_a_code(code: str) -> None:
    assert ActivationRequest(invite_code=code).invite_code == code


@pytest.mark.parametrize(
    "value",
    [
        "abc12",
        "abc1234",
        "",
        "\u0430\u0431\u0432123",  # Cyrillic letters that look Latin
        "\u00e1bc123",
        "abc\uff11\uff12\uff13",  # full-width digits
        "abc12\u0663",  # Arabic-Indic digit
        "abc12\u00b2",  # superscript two
        "abc_12",
        "abc-12",
        "abc12!",
        "abc 12",
        "abc12\n",
        "\nabc12",
        123456,
        1.5,
        True,
        None,
        b"abc123",
        ["abc123"],
    ],
)
def test_anything_else_is_not(value: object) -> None:
    with pytest.raises(ValidationError):
        ActivationRequest.model_validate({"invite_code": value})


def test_the_page_limit_defaults_to_the_page_size() -> None:
    assert page_limit(None, maximum=100) == 100
    assert page_limit(1, maximum=100) == 1
    assert page_limit(100, maximum=100) == 100


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_page_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidLimit) as raised:
        page_limit(limit, maximum=100)

    assert raised.value.status_code == 422
    assert raised.value.body()["code"] == "invalid_limit"
