"""The body of every service's Alembic `env.py`: one way to migrate, for every service."""

from __future__ import annotations

from collections.abc import Callable
from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData, create_engine, pool, text


def run_alembic_env(*, metadata: MetaData, default_url: Callable[[], str]) -> None:
    """Run the migrations Alembic asked for against the URL given by the caller.

    The URL comes from `common.db.run_migrations` (the app's start) or alembic.ini; without
    either, `default_url()` (read from the service's settings only then) is used.
    """
    config = context.config
    if config.config_file_name and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name)
    url = config.get_main_option("sqlalchemy.url") or default_url()

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
