"""The request files the replay script sends: METHOD PATH TOKEN BODY EXPECTED_STATUS per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from random import Random

from bench.seed import Layout, invite_code
from bench.servers import PROFILE_PATH, STATIC_PROFILE
from bench.tokens import TokenMinter

ACTIVATION_PATH = "/referral_system/api_invite_code_activation/"
# Out of every 20 activations: 1 is a cycle attempt that walks the whole chain and is refused,
# 2 join the bottom of the chain (the check walks it), 1 joins the user with 100k invitees,
# and the rest join a random member of the general population.
_MIX = 20


def _line(method: str, path: str, token: str, body: str = "", expected: int = 200) -> str:
    return f"{method}\t{path}\t{token}\t{body}\t{expected}\n"


def write(path: Path, lines: Iterable[str]) -> Path:
    with path.open("w") as handle:
        handle.writelines(lines)
    return path


def profile_lines(minter: TokenMinter, user_ids: Iterable[int]) -> Iterator[str]:
    for user_id in user_ids:
        yield _line("GET", PROFILE_PATH, minter.token(user_id))


def bare_lines(minter: TokenMinter, user_ids: Iterable[int]) -> Iterator[str]:
    """The bare app's profile route, with the same token bytes the gateway would carry."""
    for user_id in user_ids:
        yield _line("GET", f"{PROFILE_PATH}?user_id={user_id}", minter.token(user_id))


def static_lines(minter: TokenMinter, user_ids: Iterable[int]) -> Iterator[str]:
    for user_id in user_ids:
        yield _line("GET", STATIC_PROFILE, minter.token(user_id))


def activation_lines(
    minter: TokenMinter, layout: Layout, activators: range, rng: Random
) -> Iterator[str]:
    chain_root, chain_bottom = layout.chain[0], layout.chain[-1]
    cycle = _line(
        "POST",
        ACTIVATION_PATH,
        minter.token(chain_root),
        _activation_body(chain_bottom),
        expected=409,
    )
    for index, user_id in enumerate(activators):
        slot = index % _MIX
        if slot == 0:
            yield cycle
            continue
        if slot in (1, 2):
            owner = chain_bottom
        elif slot == 3:
            owner = layout.heavy
        else:
            owner = rng.randint(1, layout.general_max)
        yield _line("POST", ACTIVATION_PATH, minter.token(user_id), _activation_body(owner))


def _activation_body(owner: int) -> str:
    return json.dumps({"invite_code": invite_code(owner)}, separators=(",", ":"))
