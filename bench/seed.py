"""Fresh databases with the services' own schema, filled by bulk SQL one scale at a time.

Every user id has a fixed place, so the load scripts can name users, phones and invite codes
without asking the database:

  1 .. general_max        the general population: about half activated the code of someone with
                          a lower id, picked with a heavy skew towards low ids (a few popular
                          inviters, most people with none), so every tree stays acyclic
  heavy                   the user with HEAVY_INVITEES invitees (the next ids)
  chain[0] .. chain[-1]   a referral chain CHAIN_EDGES deep: each activated the previous one's code
  pool                    ACTIVATION_POOL fresh users who activate codes under load

The smaller scales hold general users only; the largest adds the special shapes at its end.

Every member gets its `root_id` (the top of its referral tree) as it is inserted: a member that
activated nothing is its own root, any other has its inviter's root. The general population's
inviters are drawn first into a temporary table; since an inviter always has a lower id than
its invitee, one pass in id order (a PL/pgSQL loop over an array) resolves every root, about 3x
faster at 1M users than a recursive CTE from the roots down or a level-by-level UPDATE (about
1.4 s against 4 to 5 s for 840k users). The special shapes' roots follow from their formulas.
`check_roots` then verifies every new member against its inviter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg2.extensions

from auth_service.main import MIGRATIONS as AUTH_MIGRATIONS
from bench.config import ACTIVATION_POOL, CHAIN_EDGES, HEAVY_INVITEES, BenchConfig
from bench.db import connect
from common.migrations import run_migrations
from referral_service.codes import ALPHABET, CODE_LENGTH
from referral_service.main import MIGRATIONS as REFERRAL_MIGRATIONS

# Invite codes are a bijection of the id onto the 62**6 code space (the multiplier is coprime
# to 62), so they are unique, look random, and need no lookup.
_CODE_SPACE = len(ALPHABET) ** CODE_LENGTH
_CODE_MULTIPLIER = 1_000_003
_CODE_OFFSET = 12_345
# Share of general users who activated someone's code; the exponent skews inviters to low ids.
_ACTIVATED_SHARE = 0.5
_INVITER_SKEW = 3


def invite_code(user_id: int) -> str:
    value = (user_id * _CODE_MULTIPLIER + _CODE_OFFSET) % _CODE_SPACE
    return "".join(
        ALPHABET[value // len(ALPHABET) ** k % len(ALPHABET)] for k in range(CODE_LENGTH)
    )


def phone(user_id: int) -> str:
    return f"7{user_id:09d}"


def _invite_code_sql(column: str) -> str:
    value = f"(({column}::bigint * {_CODE_MULTIPLIER} + {_CODE_OFFSET}) % {_CODE_SPACE})"
    base = len(ALPHABET)
    return " || ".join(
        f"substr('{ALPHABET}', ({value} / {base**k} % {base})::int + 1, 1)"
        for k in range(CODE_LENGTH)
    )


def _phone_sql(column: str) -> str:
    return f"'7' || lpad({column}::text, 9, '0')"


@dataclass(frozen=True)
class Layout:
    """Where each kind of user sits in the id space of a run whose largest scale is `top`."""

    top: int

    @property
    def general_max(self) -> int:
        return self.top - (1 + HEAVY_INVITEES + CHAIN_EDGES + 1 + ACTIVATION_POOL)

    @property
    def heavy(self) -> int:
        return self.general_max + 1

    @property
    def heavy_invitees(self) -> range:
        return range(self.heavy + 1, self.heavy + 1 + HEAVY_INVITEES)

    @property
    def chain(self) -> range:
        start = self.heavy_invitees.stop
        return range(start, start + CHAIN_EDGES + 1)

    @property
    def pool(self) -> range:
        return range(self.chain.stop, self.chain.stop + ACTIVATION_POOL)

    def general_at(self, scale: int) -> int:
        """The highest general user id once `scale` users are seeded."""
        return min(scale, self.general_max)


def check_scales(scales: tuple[int, ...]) -> Layout:
    """The layout for these scales: the largest holds every smaller one plus the special shapes."""
    layout = Layout(top=scales[-1])
    smaller = max(scales[:-1], default=1)
    if layout.general_max < smaller:
        special = layout.top - layout.general_max
        raise ValueError(
            f"the largest scale must be at least {smaller + special:,} users: {special:,} "
            f"special users come after the {smaller:,} of the scale below it"
        )
    return layout


def reset_databases(config: BenchConfig) -> None:
    """Drop and recreate the bench databases, then apply the services' migrations."""
    with connect(config.database_url("postgres"), autocommit=True) as admin, admin.cursor() as cur:
        for name in (config.auth_database, config.referral_database):
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
    run_migrations(script_location=AUTH_MIGRATIONS, url=config.auth_url)
    run_migrations(script_location=REFERRAL_MIGRATIONS, url=config.referral_url)


def drop_databases(config: BenchConfig) -> None:
    with connect(config.database_url("postgres"), autocommit=True) as admin, admin.cursor() as cur:
        for name in (config.auth_database, config.referral_database):
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _step(label: str, connection: psycopg2.extensions.connection, sql: str) -> None:
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(sql)
        rows = cur.rowcount
    connection.commit()
    count = f"{rows:>9,} rows" if rows >= 0 else " " * 14
    print(f"    {label:<44} {count}  {time.perf_counter() - started:5.1f} s", flush=True)


def seed_scale(config: BenchConfig, layout: Layout, *, previous: int, scale: int) -> None:
    """Add users previous+1 .. scale (and, at the largest scale, the special shapes)."""
    first, last = previous + 1, scale
    general_last = layout.general_at(scale)
    print(f"  seeding users {first:,} .. {last:,}", flush=True)
    with connect(config.auth_url) as auth:
        _step(
            "auth: app_user",
            auth,
            f"INSERT INTO app_user (id, phone, created_at, last_login_at) "
            f"SELECT id, {_phone_sql('id')}, now(), now() FROM generate_series({first}, {last}) id",
        )
        # Sign-ins during the run register new users after the seeded ids.
        _step(
            "auth: identity restart",
            auth,
            f"ALTER TABLE app_user ALTER COLUMN id RESTART WITH {last + 1}",
        )
    with connect(config.referral_url) as referral:
        with referral.cursor() as cur:
            # Rows are consistent by construction; skipping the FK triggers halves the load time.
            cur.execute("SET session_replication_role = replica")
            cur.execute(f"SELECT setseed({1 / (len(str(scale)) + 1)})")
        if first <= general_last:
            _seed_general(referral, first, general_last)
        if last == layout.top:
            _seed_special_shapes(referral, layout)
        _step(
            "referral: member.invited_count",
            referral,
            f"UPDATE member SET invited_count = member.invited_count + counted.n "
            f"FROM (SELECT inviter_id, count(*) AS n FROM activation "
            f"WHERE invitee_id BETWEEN {first} AND {last} GROUP BY inviter_id) counted "
            f"WHERE member.user_id = counted.inviter_id",
        )
    _analyze(config)
    check_roots(config, first, last)


# One pass in id order: an inviter always comes before its invitees, so its root is known.
# `bench_edge` holds the new users' inviters, and the root of those seeded at a smaller scale.
_ROOTS_FUNCTION = """
CREATE FUNCTION pg_temp.bench_roots(p_first bigint, p_last bigint)
RETURNS TABLE (user_id bigint, root_id bigint) LANGUAGE plpgsql AS $$
DECLARE
    roots bigint[] := array_fill(0::bigint, ARRAY[(p_last - p_first + 1)::int]);
    edge record;
BEGIN
    FOR edge IN SELECT id, inviter, inviter_root FROM bench_edge ORDER BY id LOOP
        roots[edge.id - p_first + 1] := CASE
            WHEN edge.inviter IS NULL THEN edge.id
            WHEN edge.inviter < p_first THEN edge.inviter_root
            ELSE roots[edge.inviter - p_first + 1]
        END;
    END LOOP;
    RETURN QUERY SELECT g, roots[g - p_first + 1] FROM generate_series(p_first, p_last) g;
END;
$$
"""


def _seed_general(connection: psycopg2.extensions.connection, first: int, last: int) -> None:
    """Members first .. last of the general population, with their activations and roots."""
    inviter = f"floor(power(random(), {_INVITER_SKEW}) * (id - 1))::bigint + 1"
    _step(
        "referral: inviters (general population)",
        connection,
        f"CREATE TEMPORARY TABLE bench_edge AS "
        f"SELECT drawn.id, drawn.inviter, member.root_id AS inviter_root FROM ("
        f"SELECT id, CASE WHEN id > 1 AND random() < {_ACTIVATED_SHARE} THEN {inviter} END "
        f"AS inviter FROM generate_series({first}, {last}) id) drawn "
        f"LEFT JOIN member ON member.user_id = drawn.inviter AND drawn.inviter < {first}",
    )
    with connection.cursor() as cur:
        cur.execute(_ROOTS_FUNCTION)
    _step(
        "referral: member (general population, root_id)",
        connection,
        f"INSERT INTO member (user_id, phone, invite_code, invited_count, root_id, created_at) "
        f"SELECT user_id, {_phone_sql('user_id')}, {_invite_code_sql('user_id')}, 0, root_id, "
        f"now() - interval '400 days' FROM pg_temp.bench_roots({first}, {last})",
    )
    _step(
        "referral: activation (general population)",
        connection,
        _activation_sql(
            invitees="bench_edge",
            inviter="inviter",
            activated_at="now() - random() * interval '365 days'",
            where="inviter IS NOT NULL",
        ),
    )
    with connection.cursor() as cur:
        cur.execute("DROP FUNCTION pg_temp.bench_roots(bigint, bigint)")
        cur.execute("DROP TABLE bench_edge")
    connection.commit()


def _activation_sql(*, invitees: str, inviter: str, activated_at: str, where: str = "true") -> str:
    return (
        f"INSERT INTO activation (invitee_id, inviter_id, invite_code, activated_at) "
        f"SELECT id, inviter, {_invite_code_sql('inviter')}, {activated_at} "
        f"FROM (SELECT id, {inviter} AS inviter FROM {invitees} WHERE {where}) edge"
    )


def _seed_special_shapes(connection: psycopg2.extensions.connection, layout: Layout) -> None:
    invitees, chain = layout.heavy_invitees, layout.chain
    root = (
        f"CASE WHEN id BETWEEN {invitees.start} AND {invitees.stop - 1} THEN {layout.heavy} "
        f"WHEN id BETWEEN {chain.start} AND {chain.stop - 1} THEN {chain.start} ELSE id END"
    )
    _step(
        "referral: member (special shapes, root_id)",
        connection,
        f"INSERT INTO member (user_id, phone, invite_code, invited_count, root_id, created_at) "
        f"SELECT id, {_phone_sql('id')}, {_invite_code_sql('id')}, 0, {root}, "
        f"now() - interval '400 days' FROM generate_series({layout.heavy}, {layout.top}) id",
    )
    _step(
        f"referral: activation ({len(invitees):,} invitees of one user)",
        connection,
        _activation_sql(
            invitees=f"generate_series({invitees.start}, {invitees.stop - 1}) id",
            inviter=str(layout.heavy),
            activated_at=f"now() - (id - {layout.heavy}) * interval '1 minute'",
        ),
    )
    _step(
        f"referral: activation (a chain {CHAIN_EDGES:,} deep)",
        connection,
        _activation_sql(
            invitees=f"generate_series({chain.start + 1}, {chain.stop - 1}) id",
            inviter="id - 1",
            activated_at=f"now() - ({chain.stop} - id) * interval '1 minute'",
        ),
    )


def check_roots(config: BenchConfig, first: int, last: int) -> None:
    """Every member first .. last: its own root if it activated nothing, else its inviter's.

    With acyclic activations (which the layout guarantees) this makes every root_id the top of
    its tree. Raises if any member breaks it.
    """
    started = time.perf_counter()
    with connect(config.referral_url, autocommit=True) as connection, connection.cursor() as cur:
        cur.execute(
            f"SELECT count(*), count(*) FILTER (WHERE activation.invitee_id IS NULL) "
            f"FROM member LEFT JOIN activation ON activation.invitee_id = member.user_id "
            f"LEFT JOIN member inviter ON inviter.user_id = activation.inviter_id "
            f"WHERE member.user_id BETWEEN {first} AND {last} AND member.root_id IS DISTINCT FROM "
            f"CASE WHEN activation.invitee_id IS NULL THEN member.user_id "
            f"ELSE inviter.root_id END"
        )
        wrong, wrong_roots = cur.fetchone()
        cur.execute(f"SELECT count(*) FROM member WHERE user_id BETWEEN {first} AND {last}")
        (members,) = cur.fetchone()
    if wrong or members != last - first + 1:
        raise RuntimeError(
            f"seeded root_id is wrong for {wrong:,} members ({wrong_roots:,} of them roots) "
            f"of {first:,} .. {last:,}; {members:,} members found"
        )
    print(
        f"    {'check: root_id of every new member':<44} {members:>9,} ok    "
        f"{time.perf_counter() - started:5.1f} s",
        flush=True,
    )


def _analyze(config: BenchConfig) -> None:
    started = time.perf_counter()
    for url, tables in ((config.auth_url, "app_user"), (config.referral_url, "member, activation")):
        with connect(url, autocommit=True) as connection, connection.cursor() as cur:
            cur.execute(f"VACUUM (ANALYZE) {tables}")
    print(
        f"    {'vacuum + analyze':<44} {'':14}  {time.perf_counter() - started:5.1f} s", flush=True
    )
