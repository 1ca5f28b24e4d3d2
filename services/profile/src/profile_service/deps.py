"""Request dependencies: the caller's access token and the profile service of this app."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

from common.errors import NotAuthenticated
from common.security import access_token_from
from profile_service.service import ProfileService

# RFC 6750 b64token: anything else cannot be a bearer token, and could not be sent on as a header.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Access tokens are a few hundred bytes; a longer one is refused here rather than forwarded twice.
_MAX_TOKEN_LENGTH = 4096


# Dependencies are `async def` so that they run on the event loop, not in the thread pool.
async def get_access_token(request: Request) -> str:
    token = access_token_from(request)
    if token is None:
        raise NotAuthenticated()
    if len(token) > _MAX_TOKEN_LENGTH or not _BEARER_TOKEN.fullmatch(token):
        raise NotAuthenticated("The access token is not valid.")
    return token


async def get_profile_service(request: Request) -> ProfileService:
    service: ProfileService = request.app.state.profile_service
    return service


AccessToken = Annotated[str, Depends(get_access_token)]
ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
