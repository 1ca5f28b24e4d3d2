"""invite_visit, invite_visitor, invite_funnel: visits to the share link GET /i/{code}

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00+00:00

`invite_visit` holds one row per (invite code's owner, visitor, time window): its primary key is
what bounds a flood, since the visit insert does nothing on a conflict. A visitor is a keyed
hash (HMAC) of the client IP, never the IP itself. `invite_visitor` holds each visitor of a
member once, so that a visitor is counted once under any concurrency, and `invite_funnel` the
member's counts, kept by the statement that records a visit: the funnel is one row to read
however many visits a member has.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invite_visit",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ip_hash", sa.LargeBinary(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ua_family", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.user_id"], name=op.f("fk_invite_visit_member_id_member")
        ),
        sa.PrimaryKeyConstraint(
            "member_id", "ip_hash", "window_start", name=op.f("pk_invite_visit")
        ),
    )
    op.create_table(
        "invite_visitor",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ip_hash", sa.LargeBinary(length=16), nullable=False),
        sa.Column("first_visit_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.user_id"], name=op.f("fk_invite_visitor_member_id_member")
        ),
        sa.PrimaryKeyConstraint("member_id", "ip_hash", name=op.f("pk_invite_visitor")),
    )
    op.create_table(
        "invite_funnel",
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("unique_visitors", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.user_id"], name=op.f("fk_invite_funnel_member_id_member")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_invite_funnel")),
    )


def downgrade() -> None:
    op.drop_table("invite_funnel")
    op.drop_table("invite_visitor")
    op.drop_table("invite_visit")
