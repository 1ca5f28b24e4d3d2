"""Alembic environment: the URL comes from the caller (common.db.run_migrations or alembic.ini)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from auth_service.config import AuthSettings
from auth_service.models import Base

# Any constant will do, as long as no other migration set sharing the database uses it.
MIGRATION_LOCK_ID = 0x61757468  # "auth"

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or AuthSettings().auth_database_url


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=is_sqlite
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several workers may start at once; one migrates, the others then find it done.
                lock = text("SELECT pg_advisory_xact_lock(:id)")
                connection.execute(lock, {"id": MIGRATION_LOCK_ID})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
