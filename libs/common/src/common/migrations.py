"""Schema migrations: Alembic, run on start in every mode, through the synchronous driver.

`run_migrations` is what a service calls at start-up; `run_alembic_env` is the body of every
service's `migrations/env.py`, so there is one way to migrate for every service.
"""

from __future__ import annotations

from collections.abc import Callable
from logging.config import fileConfig
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, make_url, pool, text

from common.db.urls import sync_url


def run_migrations(*, script_location: Path, url: str) -> None:
    """Bring the database at `url` to the newest revision in `script_location`."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    rendered = sync_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist yet."""
    target = sync_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).scalar()
            if not exists:
                quoted = connection.dialect.identifier_preparer.quote(target.database)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def run_alembic_env(*, metadata: MetaData, default_url: Callable[[], str]) -> None:
    """Run the migrations Alembic asked for against the URL given by the caller.

    The URL comes from `run_migrations` (the app's start) or alembic.ini; without either,
    `default_url()` (read from the service's settings only then) is used.
    """
    config = context.config
    if config.config_file_name and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name)
    url = sync_url(make_url(config.get_main_option("sqlalchemy.url") or default_url()))

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Several workers may start at once: one migrates, the others then find it
                    # done. The two-key form keeps clear of single-key locks on user ids.
                    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('alembic'), 0)"))
                context.run_migrations()
    finally:
        engine.dispose()
