"""member.root_id, and activation as one PostgreSQL function

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00+00:00

Each member keeps the top of its referral tree, so the cycle check is one lookup instead of a
walk up the chain. On PostgreSQL an activation is one call to `activate_invite_code`, which
takes its locks and does every check and write in one round trip; the referral service's
`repository.activate` documents the locking. SQLite (the single process) runs the same steps
from Python.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every member's root, from the roots (members who activated nothing) down: UPDATE ... FROM
# on PostgreSQL, a correlated subquery on SQLite (the single process's small databases).
_TREE = """
WITH RECURSIVE tree (user_id, root_id) AS (
    SELECT member.user_id, member.user_id FROM member
    WHERE NOT EXISTS (SELECT 1 FROM activation WHERE activation.invitee_id = member.user_id)
    UNION ALL
    SELECT activation.invitee_id, tree.root_id
    FROM activation JOIN tree ON activation.inviter_id = tree.user_id
)
"""
_SET_ROOTS_POSTGRESQL = f"""{_TREE}
UPDATE member SET root_id = tree.root_id FROM tree WHERE member.user_id = tree.user_id
"""
_SET_ROOTS_SQLITE = f"""{_TREE}
UPDATE member SET root_id = (SELECT tree.root_id FROM tree WHERE tree.user_id = member.user_id)
"""

# p_code is char(6), the type of member.invite_code: compared as text, the column would be cast
# and its unique index could not find the owner (a scan of every member per activation).
_ACTIVATE_FUNCTION = """
CREATE FUNCTION activate_invite_code(
    p_invitee bigint, p_code char(6), p_now timestamptz, p_deadline timestamptz
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


def upgrade() -> None:
    op.add_column("member", sa.Column("root_id", sa.BigInteger(), nullable=True))
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute(_SET_ROOTS_POSTGRESQL if postgresql else _SET_ROOTS_SQLITE)
    with op.batch_alter_table("member") as batch:
        batch.alter_column("root_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_index(batch.f("ix_member_root_id"), ["root_id"])
    if postgresql:
        op.execute(_ACTIVATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION activate_invite_code(bigint, character, timestamptz, timestamptz)"
        )
    with op.batch_alter_table("member") as batch:
        batch.drop_index(batch.f("ix_member_root_id"))
        batch.drop_column("root_id")
