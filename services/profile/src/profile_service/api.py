"""Public profile route (contract §4)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from common.errors import openapi_errors
from common.tokens import access_token_from
from profile_service.deps import StateDep
from profile_service.schemas import Profile

router = APIRouter(tags=["profile"])

# Personal data: no shared cache may keep it.
_NO_STORE = {"Cache-Control": "no-store"}
_ERRORS = openapi_errors(
    401,
    503,
    descriptions={
        401: "`not_authenticated`: no valid access token.",
        503: "`upstream_unavailable`: no stored profile, and referral did not answer in time; "
        "`service_unavailable`: Redis did not answer.",
    },
)


@router.get("/profile/api_profile/", response_model=Profile, responses=_ERRORS)
async def api_profile(request: Request, state: StateDep) -> Response:
    """The caller's id, phone, invite codes and first page of invited users."""
    principal = await state.verifier.verify(access_token_from(request))
    body = await state.profiles.profile(principal)
    return Response(body, media_type="application/json", headers=_NO_STORE)
