"""Public profile route (contract §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from profile_service.deps import AccessToken, ProfileServiceDep
from profile_service.schemas import ErrorBody, Profile

router = APIRouter(tags=["profile"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "`not_authenticated`: no valid access token."},
    503: {
        "model": ErrorBody,
        "description": "`upstream_unavailable`: auth or referral did not answer in time.",
    },
}


@router.get("/profile/api_profile/", responses=_ERRORS)
async def api_profile(
    token: AccessToken, profiles: ProfileServiceDep, response: Response
) -> Profile:
    """The caller's id, phone, invite codes and first page of invited users."""
    # Personal data: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return await profiles.load(token=token)
