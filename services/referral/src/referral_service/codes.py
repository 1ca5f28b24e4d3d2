"""Invite codes: 6 characters of [A-Za-z0-9] drawn with `secrets` (62**6, about 5.7e10 codes)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 6
# Spelled out rather than \w or str.isalnum(), which would also accept non-ASCII letters and digits.
CODE_PATTERN = rf"^[A-Za-z0-9]{{{CODE_LENGTH}}}$"

CodeGenerator = Callable[[], str]


def new_invite_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
