"""The referral rules: members and their codes, activations, the invitee list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referral_service import repository
from referral_service.codes import CodeGenerator, new_invite_code
from referral_service.errors import (
    InvalidCursor,
    InvalidLimit,
    InviteCodeAlreadyActivated,
    InviteCodeNotFound,
    InviteCodesExhausted,
    OwnInviteCode,
    ReferralCycle,
)
from referral_service.models import Activation, Member

# With 62**6 codes a single collision is already rare; this many in a row means a broken generator.
MAX_CODE_DRAWS = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR_LENGTH = 64


@dataclass(frozen=True, slots=True)
class InvitedUser:
    id: int
    phone: str
    activated_at: datetime


@dataclass(frozen=True, slots=True)
class InviteePage:
    items: list[InvitedUser]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Overview:
    activated_invite_code: str | None
    first_page: InviteePage


def ensure_member(
    session: Session, *, user_id: int, phone: str, generate_code: CodeGenerator = new_invite_code
) -> Member:
    """The user's member row, created with a fresh invite code the first time the user is seen."""
    member = repository.get_member(session, user_id)
    if member is not None:
        return member
    for _ in range(MAX_CODE_DRAWS):
        repository.insert_member(
            session, user_id=user_id, phone=phone, invite_code=generate_code(), created_at=_now()
        )
        # There if we inserted it or a concurrent first request did; absent if the code was taken.
        member = repository.get_member(session, user_id)
        if member is not None:
            return member
    raise InviteCodesExhausted(f"{MAX_CODE_DRAWS} invite codes in a row were already taken")


def activate_invite_code(session: Session, *, member: Member, invite_code: str) -> Activation:
    """Make the code's owner the member's inviter, keeping the referral graph a forest.

    Why this is safe under concurrency. The activating member has no inviter yet, so it is
    the root of its own tree, and it is an ancestor of the code's owner exactly when it is
    the root R of the owner's tree. Two facts must therefore hold still between the checks
    and the insert: "the member has no inviter" and "R has no inviter". Each can change only
    through an activation *by* that user, and every activation locks its own user and the
    root of the tree it joins. So on PostgreSQL we take transaction-scoped advisory locks on
    the member and R (in ascending order, so two activations cannot deadlock), then confirm
    R still has no inviter; if it gained one while we waited, we roll back to the savepoint,
    which releases the locks, and retry with the new root. Retries end because a user gains
    an inviter at most once. Two activations that could close a cycle between them always
    lock a common user, so the second sees the first's edge. On SQLite every transaction
    starts with BEGIN IMMEDIATE, which already runs them one at a time. The primary key on
    activation.invitee_id remains the last line of defence.

    Most activations take a shortcut that needs no walk up the owner's tree: a member that
    nobody has joined yet is alone in its tree, so no code it takes can close a cycle. That
    stays true while we hold the member's lock, because every activation that could give the
    member a child locks the member: the shortcut locks the code's owner as well as its user,
    and the full path locks the root, which the member is until this activation commits.
    """
    owner = repository.member_by_code(session, invite_code)
    if owner is None:
        raise InviteCodeNotFound()
    if owner.user_id == member.user_id:
        raise OwnInviteCode()
    with session.begin_nested() as alone:
        repository.lock_users(session, (member.user_id, owner.user_id))
        if not repository.has_invitees(session, member.user_id):
            return _activate_locked(session, member=member, owner=owner, root=None)
        alone.rollback()  # releases the locks, to be taken again in order with the root's
    while True:
        with session.begin_nested() as attempt:
            root = repository.root_of(session, owner.user_id)
            repository.lock_users(session, (member.user_id, root))
            # Activations are never removed, so the owner is still below `root`; `root` is
            # still the top unless it gained an inviter while we waited for the lock.
            if repository.get_activation(session, root) is None:
                return _activate_locked(session, member=member, owner=owner, root=root)
            attempt.rollback()


def _activate_locked(
    session: Session, *, member: Member, owner: Member, root: int | None
) -> Activation:
    """The checks and the insert, under the locks; `root` None: the member's tree is itself."""
    previous = repository.get_activation(session, member.user_id)
    if previous is not None:
        raise InviteCodeAlreadyActivated(previous.invite_code)
    if root == member.user_id:
        raise ReferralCycle()
    try:
        with session.begin_nested():
            activation = repository.insert_activation(
                session,
                invitee_id=member.user_id,
                inviter_id=owner.user_id,
                invite_code=owner.invite_code,
                activated_at=_now(),
            )
    except IntegrityError:
        previous = repository.get_activation(session, member.user_id)
        if previous is None:
            raise
        raise InviteCodeAlreadyActivated(previous.invite_code) from None
    repository.increment_invited_count(session, owner.user_id)
    return activation


def page_limit(limit: int | None, *, maximum: int) -> int:
    if limit is None:
        return maximum
    if not 1 <= limit <= maximum:
        raise InvalidLimit(maximum)
    return limit


def invited_users(
    session: Session, *, inviter_id: int, limit: int, cursor: str | None = None
) -> InviteePage:
    """One page of the people who activated this user's code, newest first.

    Keyset pagination on (activated_at, invitee_id): a page continues strictly after the
    last row shown, so invitees who arrive meanwhile appear on the first page and never
    shift or repeat rows on the following ones.
    """
    before = decode_cursor(cursor) if cursor is not None else None
    rows = repository.invitees(session, inviter_id=inviter_id, limit=limit + 1, before=before)
    items = [InvitedUser(id=row[0], phone=row[1], activated_at=row[2]) for row in rows[:limit]]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].activated_at, items[-1].id) if more else None
    return InviteePage(items=items, next_cursor=next_cursor)


def overview(session: Session, *, member: Member, limit: int) -> Overview:
    """What the profile shows about the member's referrals."""
    activation = repository.get_activation(session, member.user_id)
    return Overview(
        activated_invite_code=activation.invite_code if activation else None,
        first_page=invited_users(session, inviter_id=member.user_id, limit=limit),
    )


def encode_cursor(activated_at: datetime, invitee_id: int) -> str:
    micros = (activated_at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([micros, invitee_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The keyset position in a cursor made by encode_cursor; InvalidCursor for anything else."""
    if not cursor.isascii() or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        micros, invitee_id = json.loads(raw)
        if not (_is_bigint(micros) and _is_bigint(invitee_id)):
            raise ValueError("cursor fields must be 64-bit integers")
        return _EPOCH + timedelta(microseconds=micros), invitee_id
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise InvalidCursor() from None


def _is_bigint(value: object) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63


def _now() -> datetime:
    return datetime.now(UTC)
