"""Alembic environment: the URL comes from the caller (common.db.run_migrations or alembic.ini)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from referral_service.config import ReferralSettings
from referral_service.models import Base

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or ReferralSettings().referral_database_url


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
                # The two-key form keeps clear of the single-key locks activations take on
                # user ids.
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('alembic'), 0)"))
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
