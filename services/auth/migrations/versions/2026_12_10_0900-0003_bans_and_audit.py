"""Bans on app_user, an index on its created_at, and the audit_event table

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 09:00:00+00:00

A ban is in force while `banned_at` is set and `banned_until` is null or ahead; the sign-in
upsert checks it in its own statement. `audit_event` is append-only; its id order is its time
order, so it needs no index on `at`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.add_column(sa.Column("banned_at", _TIME, nullable=True))
        table.add_column(sa.Column("banned_until", _TIME, nullable=True))
        table.add_column(sa.Column("ban_reason", sa.String(500), nullable=True))
        table.add_column(sa.Column("banned_by", sa.BigInteger(), nullable=True))
    op.create_index("ix_app_user_created_at", "app_user", ["created_at"])
    op.create_table(
        "audit_event",
        sa.Column("id", _ID, sa.Identity(), primary_key=True),
        sa.Column("at", _TIME, server_default=sa.func.now(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_phone", sa.String(10), nullable=True),
        sa.Column("ip_hash", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_subject_id_id", "audit_event", ["subject_id", "id"])
    op.create_index("ix_audit_event_actor_id_id", "audit_event", ["actor_id", "id"])
    op.create_index("ix_audit_event_type_id", "audit_event", ["type", "id"])


def downgrade() -> None:
    op.drop_table("audit_event")
    op.drop_index("ix_app_user_created_at", table_name="app_user")
    with op.batch_alter_table("app_user") as table:
        for column in ("banned_by", "ban_reason", "banned_until", "banned_at"):
            table.drop_column(column)
