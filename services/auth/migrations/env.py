"""Alembic environment of the auth service (see common.migrations)."""

from auth_service.config import AuthSettings
from auth_service.models import Base
from common.migrations import run_alembic_env

run_alembic_env(metadata=Base.metadata, default_url=lambda: AuthSettings().auth_database_url)
