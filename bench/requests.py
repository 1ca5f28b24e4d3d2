"""The request files the replay script sends, one tab-separated line per request:
METHOD PATH TOKEN BODY EXPECTED_STATUS [EXPECTED_CODE]."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

from bench.seed import Layout, invite_code, phone
from bench.servers import PROFILE_PATH, STATIC_PROFILE
from bench.tokens import TokenMinter

ACTIVATION_PATH = "/referral_system/api_invite_code_activation/"
ADMIN_SEARCH_PATH = "/admin/api/users/"
# Lines of the operator search run: each wrk thread walks its share of them in turn.
ADMIN_SEARCH_LINES = 4_096
CYCLE_CODE = "referral_cycle"
# Out of every 20 activations: 1 is a cycle attempt that walks the whole chain and is refused,
# 2 join the bottom of the chain (the check walks it), 1 joins the user with 100k invitees,
# and the rest join a random member of the general population.
MIX = 20
CYCLES_PER_MIX = 1
# Copies of the single line of a one-token run: every wrk thread needs a line of its own.
REPEATED_LINES = 64


def _line(
    method: str, path: str, token: str, body: str = "", expected: int = 200, code: str = ""
) -> str:
    return f"{method}\t{path}\t{token}\t{body}\t{expected}\t{code}\n"


def write(path: Path, lines: Iterable[str]) -> Path:
    with path.open("w") as handle:
        handle.writelines(lines)
    return path


@dataclass(frozen=True)
class ColdPattern:
    """The order of a cold run's requests: every user's token is used `uses` times.

    Slot k sends user k's first request, then user k - gap's second, then user k - 2 gap's
    third (and so on for more uses), where such a user exists. After the first (uses - 1) x gap
    slots (the ramp) every slot holds one first use (a miss) and uses - 1 later ones (hits), so
    the share of misses stays 1 / uses. A token's next use comes gap x uses requests after its
    previous one, far more than are ever in flight, so its first answer is in before it.
    """

    users: tuple[int, ...]
    uses: int
    gap: int

    @classmethod
    def of(cls, users: Sequence[int], *, uses: int, gap: int) -> ColdPattern:
        # A small population still needs a steady part: at most half of it in the ramp.
        gap = max(1, min(gap, len(users) // (2 * max(uses - 1, 1))))
        return cls(tuple(users), uses, gap)

    def order(self) -> list[int]:
        found = []
        for slot in range(len(self.users)):
            for use in range(self.uses):
                index = slot - use * self.gap
                if index >= 0:
                    found.append(self.users[index])
        return found

    @property
    def ramp_lines(self) -> int:
        """Lines before the steady state: the slots that lack some later use."""
        return self.gap * self.uses * (self.uses - 1) // 2

    @property
    def lines(self) -> int:
        return len(self.users) * self.uses - self.ramp_lines

    @property
    def steady_lines(self) -> int:
        return self.lines - self.ramp_lines


def tokens_for(minter: TokenMinter, user_ids: Iterable[int]) -> dict[int, str]:
    """One token (one login session) per user."""
    return {user_id: minter.token(user_id) for user_id in dict.fromkeys(user_ids)}


def profile_lines(order: Iterable[int], tokens: Mapping[int, str]) -> Iterator[str]:
    for user_id in order:
        yield _line("GET", PROFILE_PATH, tokens[user_id])


def bare_lines(order: Iterable[int], tokens: Mapping[int, str]) -> Iterator[str]:
    """The bare app's profile route, with the same token bytes the gateway would carry."""
    for user_id in order:
        yield _line("GET", f"{PROFILE_PATH}?user_id={user_id}", tokens[user_id])


def static_lines(order: Iterable[int], tokens: Mapping[int, str]) -> Iterator[str]:
    for user_id in order:
        yield _line("GET", STATIC_PROFILE, tokens[user_id])


def repeated_lines(token: str, *, path: str = PROFILE_PATH) -> Iterator[str]:
    """One request, the same token every time."""
    for _ in range(REPEATED_LINES):
        yield _line("GET", path, token)


def activation_lines(
    minter: TokenMinter, layout: Layout, activators: range, rng: Random, *, threads: int
) -> Iterator[str]:
    """One line per activator. wrk thread n sends lines n, n + threads, ...: the mix follows
    each thread's own line count, so every thread sends the same mix."""
    chain_root, chain_bottom = layout.chain[0], layout.chain[-1]
    cycle = _line(
        "POST",
        ACTIVATION_PATH,
        minter.token(chain_root),
        _activation_body(chain_bottom),
        expected=409,
        code=CYCLE_CODE,
    )
    for index, user_id in enumerate(activators):
        slot = index // threads % MIX
        if slot < CYCLES_PER_MIX:
            yield cycle
            continue
        if slot in (1, 2):
            owner = chain_bottom
        elif slot == 3:
            owner = layout.heavy
        else:
            owner = rng.randint(1, layout.general_max)
        yield _line("POST", ACTIVATION_PATH, minter.token(user_id), _activation_body(owner))


def admin_search_lines(token: str, users: int, rng: Random) -> Iterator[str]:
    """An operator searching `users` seeded users: out of every 10 searches, 6 by a phone prefix
    of 4 to 9 digits (a few matches), 2 by one of 1 to 3 digits (a full first page among many),
    1 by a user id and 1 with no query (the newest users)."""
    for index in range(ADMIN_SEARCH_LINES):
        user_id = rng.randint(1, users)
        kind = index % 10
        if kind < 6:
            query = phone(user_id)[: rng.randint(4, 9)]
        elif kind < 8:
            query = phone(user_id)[: rng.randint(1, 3)]
        elif kind == 8:
            query = str(user_id)
        else:
            query = ""
        path = f"{ADMIN_SEARCH_PATH}?q={query}" if query else ADMIN_SEARCH_PATH
        yield _line("GET", path, token)


def _activation_body(owner: int) -> str:
    return json.dumps({"invite_code": invite_code(owner)}, separators=(",", ":"))
