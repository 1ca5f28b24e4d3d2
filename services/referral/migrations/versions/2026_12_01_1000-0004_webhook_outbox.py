"""webhook_outbox, and the activation function writing the referral.activated event

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00+00:00

The events table of `common.outbox`. `activate_invite_code` gains a last parameter, the event's
webhook-id (NULL by default: no event); given one, a successful activation inserts its
`referral.activated` row in the function's own transaction, so the event costs no extra round
trip and exists exactly when the activation does. Refusals and repeats write nothing. SQLite
(the single process) writes the event from Python in the activation's transaction.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "delivered_at IS NULL AND failed_at IS NULL"
OLD_SIGNATURE = "activate_invite_code(bigint, character, timestamptz, timestamptz)"
NEW_SIGNATURE = "activate_invite_code(bigint, character, timestamptz, timestamptz, text)"

_ACTIVATE_FUNCTION = """
CREATE FUNCTION activate_invite_code(
    p_invitee bigint,
    p_code char(6),
    p_now timestamptz,
    p_deadline timestamptz,
    p_event_id text DEFAULT NULL
)
RETURNS TABLE (outcome text, invite_code text, activated_at timestamptz, inviter_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_owner bigint;
    v_root bigint;
    v_previous record;
BEGIN
    SELECT m.user_id INTO v_owner FROM member m WHERE m.invite_code = p_code;
    IF v_owner IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_owner = p_invitee THEN
        RETURN QUERY SELECT 'own_code', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    -- An activation is never removed: one found without a lock is final.
    SELECT a.invite_code, a.activated_at, a.inviter_id INTO v_previous
    FROM activation a WHERE a.invitee_id = p_invitee;
    IF FOUND THEN
        RETURN QUERY SELECT
            CASE WHEN v_previous.invite_code = p_code THEN 'repeated' ELSE 'already_activated' END,
            v_previous.invite_code::text, v_previous.activated_at, v_previous.inviter_id;
        RETURN;
    END IF;
    PERFORM 1 FROM member m WHERE m.user_id = p_invitee;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_member', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;

    -- The invitee exclusively (its own tree is about to move), the owner's root shared (it
    -- must stay a root); in ascending order, so two activations never wait for each other.
    LOOP
        SELECT m.root_id INTO v_root FROM member m WHERE m.user_id = v_owner;
        BEGIN
            IF v_root = p_invitee THEN
                PERFORM pg_advisory_xact_lock(p_invitee);
            ELSIF p_invitee < v_root THEN
                PERFORM pg_advisory_xact_lock(p_invitee);
                PERFORM pg_advisory_xact_lock_shared(v_root);
            ELSE
                PERFORM pg_advisory_xact_lock_shared(v_root);
                PERFORM pg_advisory_xact_lock(p_invitee);
            END IF;
            IF (SELECT m.root_id FROM member m WHERE m.user_id = v_owner) <> v_root THEN
                -- The root activated a code while we waited: undo this block, which
                -- releases its locks, and lock the new root in order.
                RAISE EXCEPTION USING ERRCODE = 'RF001';
            END IF;
            EXIT;
        EXCEPTION WHEN SQLSTATE 'RF001' THEN
            NULL;
        END;
    END LOOP;

    SELECT a.invite_code, a.activated_at, a.inviter_id INTO v_previous
    FROM activation a WHERE a.invitee_id = p_invitee;
    IF FOUND THEN
        RETURN QUERY SELECT
            CASE WHEN v_previous.invite_code = p_code THEN 'repeated' ELSE 'already_activated' END,
            v_previous.invite_code::text, v_previous.activated_at, v_previous.inviter_id;
        RETURN;
    END IF;
    IF v_root = p_invitee THEN
        RETURN QUERY SELECT 'cycle', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;

    INSERT INTO activation (invitee_id, inviter_id, invite_code, activated_at)
    VALUES (p_invitee, v_owner, p_code, p_now);
    UPDATE member SET invited_count = member.invited_count + 1 WHERE member.user_id = v_owner;
    UPDATE member SET root_id = v_root WHERE member.root_id = p_invitee;
    -- The referral.activated event, in this transaction: it exists exactly when the activation
    -- does. Only when the caller names its webhook-id (webhooks on).
    IF p_event_id IS NOT NULL THEN
        INSERT INTO webhook_outbox (message_id, event_type, occurred_at, data, next_attempt_at)
        SELECT p_event_id, 'referral.activated', p_now,
            json_build_object(
                'invitee', json_build_object('id', invitee.user_id, 'phone', invitee.phone),
                'inviter', json_build_object('id', inviter.user_id, 'phone', inviter.phone),
                'invite_code', p_code::text,
                'activated_at', to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            )::text,
            p_now
        FROM member invitee, member inviter
        WHERE invitee.user_id = p_invitee AND inviter.user_id = v_owner;
    END IF;
    -- A caller that has given up has told its client the activation failed: it must not
    -- commit now (say, the server was stalled and has just resumed). query_canceled, as for
    -- statement_timeout.
    IF clock_timestamp() > p_deadline THEN
        RAISE EXCEPTION 'activation past its deadline' USING ERRCODE = 'query_canceled';
    END IF;
    RETURN QUERY SELECT 'activated', p_code::text, p_now, v_owner;
END;
$$
"""


def _function_of_0002() -> str:
    """The function as migration 0002 created it (what a downgrade puts back)."""
    (path,) = Path(__file__).parent.glob("*-0002_*.py")
    spec = importlib.util.spec_from_file_location("referral_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._ACTIVATE_FUNCTION)


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at",
        "webhook_outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
        op.execute(_ACTIVATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {NEW_SIGNATURE}")
        op.execute(_function_of_0002())
    op.drop_index("ix_webhook_outbox_next_attempt_at", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
