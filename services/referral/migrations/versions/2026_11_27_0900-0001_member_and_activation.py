"""member and activation

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:00:00+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("invite_code", sa.CHAR(length=6), nullable=False),
        sa.Column("invited_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_member_invite_code")),
    )
    op.create_table(
        "activation",
        sa.Column("invitee_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=False),
        sa.Column("invite_code", sa.CHAR(length=6), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("invitee_id <> inviter_id", name=op.f("ck_activation_not_self")),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["member.user_id"], name=op.f("fk_activation_invitee_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["member.user_id"], name=op.f("fk_activation_inviter_id_member")
        ),
        sa.PrimaryKeyConstraint("invitee_id", name=op.f("pk_activation")),
    )
    op.create_index(
        "ix_activation_inviter_id_activated_at_invitee_id",
        "activation",
        [
            "inviter_id",
            sa.literal_column("activated_at DESC"),
            sa.literal_column("invitee_id DESC"),
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_activation_inviter_id_activated_at_invitee_id", table_name="activation")
    op.drop_table("activation")
    op.drop_table("member")
