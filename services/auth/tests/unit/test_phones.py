import pytest

from auth_service.phones import normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "9991234567",
        "+7 (999) 123-45-67",
        "8 999 123 45 67",
        "79991234567",
        "89991234567",
        "+79991234567",
        "(999) 123-45-67",
        " 9991234567 ",
    ],
)
def test_accepted_forms_give_the_ten_digit_number(raw: str) -> None:
    assert normalize_phone(raw) == "9991234567"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "999123456",  # 9 digits
        "999123456789",  # 12 digits
        "59991234567",  # 11 digits without a 7/8 trunk prefix
        "++79991234567",
        "7+9991234567",
        "999-123-45-6x",
        "9991234567\n1",
        "\u0669\u0669\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667",  # Arabic-Indic digits
        "\uff19\uff19\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17",  # fullwidth digits
        "999123456\u0667",  # one non-ASCII digit
        "9" * 100_000,
        "+7 (999) 123-45-67" + " " * 40,  # over the input cap even if it would strip down
    ],
)
def test_anything_else_is_refused(raw: str) -> None:
    assert normalize_phone(raw) is None
