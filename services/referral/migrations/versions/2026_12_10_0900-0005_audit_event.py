"""audit_event, and the activation function writing its audit row

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00+00:00

`audit_event` is the service's append-only audit log (the operator console reads it).
`activate_invite_code` gains two last parameters, the client's IP hash and the request id, and
writes the attempt's audit row in its own transaction: `activation.succeeded`, or
`activation.refused` with the error code the API answers. So an activation stays one round trip.
A repeat of one's own activation (answered as the first time) and an unknown invitee (the caller
makes the member and calls again) write none. Everything else is the function of migration 0004
unchanged: the checks, the locks, the outbox event. SQLite (the single process) writes the same
rows from Python.

The top inviters are found without an index of their own: one on `invited_count` would make
every activation's `invited_count + 1` a non-HOT update (a new index entry per activation) on
the hot path, to save the operator's stats page a scan of `member` (about 80 ms at 1M members).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SIGNATURE = "activate_invite_code(bigint, character, timestamptz, timestamptz, text)"
NEW_SIGNATURE = (
    "activate_invite_code(bigint, character, timestamptz, timestamptz, text, text, text)"
)

_ACTIVATE_FUNCTION = """
CREATE FUNCTION activate_invite_code(
    p_invitee bigint,
    p_code char(6),
    p_now timestamptz,
    p_deadline timestamptz,
    p_event_id text DEFAULT NULL,
    p_ip_hash text DEFAULT NULL,
    p_request_id text DEFAULT NULL
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
        INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
        VALUES (p_now, 'activation.refused', p_invitee, p_invitee, p_ip_hash, p_request_id,
            jsonb_build_object('reason', 'invite_code_not_found', 'invite_code', p_code::text));
        RETURN QUERY SELECT 'not_found', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF v_owner = p_invitee THEN
        INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
        VALUES (p_now, 'activation.refused', p_invitee, p_invitee, p_ip_hash, p_request_id,
            jsonb_build_object('reason', 'own_invite_code', 'invite_code', p_code::text));
        RETURN QUERY SELECT 'own_code', NULL::text, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    -- An activation is never removed: one found without a lock is final.
    SELECT a.invite_code, a.activated_at, a.inviter_id INTO v_previous
    FROM activation a WHERE a.invitee_id = p_invitee;
    IF FOUND THEN
        IF v_previous.invite_code <> p_code THEN
            INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
            VALUES (p_now, 'activation.refused', p_invitee, p_invitee, p_ip_hash, p_request_id,
                jsonb_build_object(
                    'reason', 'invite_code_already_activated', 'invite_code', p_code::text
                ));
        END IF;
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
        IF v_previous.invite_code <> p_code THEN
            INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
            VALUES (p_now, 'activation.refused', p_invitee, p_invitee, p_ip_hash, p_request_id,
                jsonb_build_object(
                    'reason', 'invite_code_already_activated', 'invite_code', p_code::text
                ));
        END IF;
        RETURN QUERY SELECT
            CASE WHEN v_previous.invite_code = p_code THEN 'repeated' ELSE 'already_activated' END,
            v_previous.invite_code::text, v_previous.activated_at, v_previous.inviter_id;
        RETURN;
    END IF;
    IF v_root = p_invitee THEN
        INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
        VALUES (p_now, 'activation.refused', p_invitee, p_invitee, p_ip_hash, p_request_id,
            jsonb_build_object('reason', 'referral_cycle', 'invite_code', p_code::text));
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
    INSERT INTO audit_event (at, type, actor_id, subject_id, ip_hash, request_id, detail)
    VALUES (p_now, 'activation.succeeded', p_invitee, p_invitee, p_ip_hash, p_request_id,
        jsonb_build_object('invite_code', p_code::text, 'inviter_id', v_owner));
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


def _function_of_0004() -> str:
    """The function as migration 0004 created it (what a downgrade puts back)."""
    (path,) = Path(__file__).parent.glob("*-0004_*.py")
    spec = importlib.util.spec_from_file_location("referral_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._ACTIVATE_FUNCTION)


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_phone", sa.String(10), nullable=True),
        sa.Column("ip_hash", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_subject_id_id", "audit_event", ["subject_id", "id"])
    op.create_index("ix_audit_event_actor_id_id", "audit_event", ["actor_id", "id"])
    op.create_index("ix_audit_event_type_id", "audit_event", ["type", "id"])
    op.create_index(
        "ix_audit_event_at",
        "audit_event",
        ["at"],
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
        op.execute(_ACTIVATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {NEW_SIGNATURE}")
        op.execute(_function_of_0004())
    op.drop_table("audit_event")
