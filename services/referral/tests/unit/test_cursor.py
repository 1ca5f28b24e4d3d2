import base64
import json
from datetime import UTC, datetime

import pytest

from referral_service.cursor import decode_cursor, encode_cursor
from referral_service.errors import InvalidCursor


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 10, 0, 0, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ],
)
def test_a_cursor_round_trips_to_the_microsecond(moment: datetime) -> None:
    cursor = encode_cursor(moment, 12345)

    assert decode_cursor(cursor) == (moment, 12345)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "abc",  # not a whole number of base64 characters
        "a b c d",
        "Wz\u00e91LDJd",  # non-ASCII
        "A" * 65,
        _cursor({"at": 1, "id": 2}),
        _cursor([1, 2, 3]),
        _cursor([1]),
        _cursor(["1", 2]),
        _cursor([1.5, 2]),
        _cursor([True, 2]),
        _cursor([1, None]),
        _cursor([10**30, 2]),
        _cursor([1, 2**63]),
        _cursor([-(10**17), 2]),  # before year 1
        _cursor([10**18, 2]),  # after year 9999
        _cursor("ab"),
        _cursor(7),
        base64.urlsafe_b64encode(b"\xff\xfe[1,2]").decode(),
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
