"""Public profile route (contract §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from common.tokens import access_token_from
from profile_service.deps import StateDep
from profile_service.schemas import ErrorBody, Profile

router = APIRouter(tags=["profile"])

# Personal data: no shared cache may keep it.
_NO_STORE = {"Cache-Control": "no-store"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "`not_authenticated`: no valid access token."},
    503: {
        "model": ErrorBody,
        "description": "`upstream_unavailable`: no stored profile, and referral did not answer "
        "in time; `service_unavailable`: Redis did not answer.",
    },
}


@router.get("/profile/api_profile/", response_model=Profile, responses=_ERRORS)
async def api_profile(request: Request, state: StateDep) -> Response:
    """The caller's id, phone, invite codes and first page of invited users."""
    principal = await state.verifier.verify(access_token_from(request))
    body = await state.profiles.profile(principal)
    return Response(body, media_type="application/json", headers=_NO_STORE)
