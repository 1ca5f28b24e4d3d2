"""The profile: auth's view of the caller joined with referral's, asked for at the same time."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from common.errors import NotAuthenticated
from profile_service.clients import (
    AuthClient,
    AuthUser,
    ReferralClient,
    ReferralSummary,
    UpstreamUnavailable,
)
from profile_service.schemas import Profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProfileService:
    auth: AuthClient
    referral: ReferralClient
    page_size: int
    # One budget for the whole answer: both calls run at once, so there is no per-hop stacking.
    deadline_seconds: float

    async def load(self, *, token: str) -> Profile:
        """The caller's profile; NotAuthenticated or UpstreamUnavailable within the deadline."""
        try:
            async with asyncio.timeout(self.deadline_seconds), asyncio.TaskGroup() as group:
                user = group.create_task(self.auth.current_user(token=token))
                summary = group.create_task(
                    self.referral.summary(token=token, limit=self.page_size)
                )
        except TimeoutError:
            calls = ((self.auth.name, user), (self.referral.name, summary))
            # Empty only if both answers landed as the deadline passed; then neither was on time.
            late = [name for name, task in calls if task.cancelled()] or [n for n, _ in calls]
            reason = f"no answer within {self.deadline_seconds} s"
            raise _logged(UpstreamUnavailable(late, reason=reason)) from None
        except BaseExceptionGroup as failures:
            # The TaskGroup has already cancelled whichever call was still running.
            raise _decisive(failures) from None
        return _joined(user.result(), summary.result())


def _joined(user: AuthUser, summary: ReferralSummary) -> Profile:
    if summary.user_id != user.id:
        raise _logged(
            UpstreamUnavailable(
                [ReferralClient.name],
                reason=f"answered for user {summary.user_id}, auth says {user.id}",
            )
        )
    return Profile(
        id=user.id,
        phone=user.phone,
        invite_code=summary.invite_code,
        activated_invite_code=summary.activated_invite_code,
        invited_users=summary.invited_users,
        invited_count=summary.invited_count,
        invited_users_next=summary.invited_users_next,
    )


def _decisive(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error the caller gets when one or both calls failed."""
    rejected = [exc for exc in failures.exceptions if isinstance(exc, NotAuthenticated)]
    unavailable = [exc for exc in failures.exceptions if isinstance(exc, UpstreamUnavailable)]
    if len(rejected) + len(unavailable) < len(failures.exceptions):
        return failures  # A bug here, not an upstream failure: let it surface whole.
    if rejected:
        # A refused token is the caller's to fix whatever else failed; retrying will not help.
        return rejected[0]
    return _logged(UpstreamUnavailable.combine(unavailable))


def _logged(error: UpstreamUnavailable) -> UpstreamUnavailable:
    logger.warning(
        "upstream unavailable", extra={"upstreams": list(error.upstreams), "reason": error.reason}
    )
    return error
