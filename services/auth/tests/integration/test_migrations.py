"""The Alembic history builds exactly the schema the models describe, and can be undone."""

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from auth_service.main import MIGRATIONS
from auth_service.models import Base
from common.migrations import run_migrations


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(
    request: pytest.FixtureRequest, make_database: Callable[[str], str], tmp_path: Path
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    url = make_database("auth")
    if not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL")
    return url


def test_migrations_match_the_models(database_url: str) -> None:
    run_migrations(script_location=MIGRATIONS, url=database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    run_migrations(script_location=MIGRATIONS, url=database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    command.downgrade(config, "base")
    engine = create_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        run_migrations(script_location=MIGRATIONS, url=database_url)
        assert {"app_user", "audit_event", "webhook_outbox"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
