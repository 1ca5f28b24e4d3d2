"""Database URLs: one database, through its asyncio driver or its synchronous one.

Settings name databases with the URLs people know (`postgresql+psycopg2://…`, `sqlite:///…`);
the services' requests run on the asyncio driver of the same database, and the migrations on
the synchronous one (common.migrations).
"""

from __future__ import annotations

from sqlalchemy import URL, make_url


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def async_url(url: str | URL) -> URL:
    """The same database through its asyncio driver."""
    parsed = make_url(url)
    driver = "aiosqlite" if parsed.get_backend_name() == "sqlite" else "asyncpg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def sync_url(url: str | URL) -> URL:
    """The same database through its synchronous driver (migrations, tooling)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername=f"{parsed.get_backend_name()}+psycopg2")
