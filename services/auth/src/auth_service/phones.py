"""Phone numbers in the API's 10-digit national format (`9991234567`)."""

from __future__ import annotations

import re

# Longer input is refused before any work: "+7 (999) 123-45-67" is 18 characters.
MAX_PHONE_INPUT_LENGTH = 32

_SEPARATORS = str.maketrans("", "", " ()-")
# `[0-9]` rather than `\d`: Arabic-Indic, fullwidth and other Unicode digits are refused.
_TEN_DIGITS = re.compile(r"[0-9]{10}")
_ELEVEN_DIGITS_WITH_TRUNK = re.compile(r"[78][0-9]{10}")


def normalize_phone(raw: str) -> str | None:
    """`+7 (999) 123-45-67`, `8 999 123 45 67` and `79991234567` all give `9991234567`.

    None when the input is not a phone number in that sense.
    """
    if len(raw) > MAX_PHONE_INPUT_LENGTH:
        return None
    text = raw.strip().translate(_SEPARATORS)
    text = text.removeprefix("+")
    if _ELEVEN_DIGITS_WITH_TRUNK.fullmatch(text):
        text = text[1:]
    return text if _TEN_DIGITS.fullmatch(text) else None
