"""The invitee list as CSV: a header line, then one line per invitee, one chunk per batch."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from pydantic import TypeAdapter

from referral_service.service import Invitee

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_FILENAME = "invited_users.csv"
CSV_HEADER = ("id", "phone", "activated_at")

# The JSON API's own form of a time (pydantic's), so both answers spell an invitee alike.
_TIME = TypeAdapter(datetime)


async def csv_chunks(batches: AsyncIterator[list[Invitee]]) -> AsyncIterator[str]:
    """The header, then each batch's lines as one chunk (RFC 4180: CRLF, quoted as needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    yield _drain(buffer)
    async for batch in batches:
        writer.writerows(_rows(batch))
        yield _drain(buffer)


def _rows(batch: Iterable[Invitee]) -> Iterable[tuple[int, str, str]]:
    for invitee in batch:
        yield invitee.id, invitee.phone, _TIME.dump_python(invitee.activated_at, mode="json")


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
