"""Alembic environment of the referral service (see common.migrations)."""

from common.migrations import run_alembic_env
from referral_service.config import ReferralSettings
from referral_service.models import Base

run_alembic_env(
    metadata=Base.metadata, default_url=lambda: ReferralSettings().referral_database_url
)
