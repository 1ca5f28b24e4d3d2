"""Plain psycopg2 connections for seeding and for the bare-query app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
from sqlalchemy import make_url


def dsn(url: str) -> str:
    parsed = make_url(url)
    parts = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "dbname": parsed.database or "postgres",
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value is not None)


@contextmanager
def connect(url: str, *, autocommit: bool = False) -> Iterator[psycopg2.extensions.connection]:
    connection = psycopg2.connect(dsn(url))
    connection.autocommit = autocommit
    try:
        yield connection
    finally:
        connection.close()
