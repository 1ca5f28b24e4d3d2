"""FastAPI dependencies of the auth routes.

The ones that do no I/O are `async def`: FastAPI runs a sync dependency in the thread pool,
and each such hop costs more than the work itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth_service.config import AuthSettings
from auth_service.ratelimit import client_address
from auth_service.service import AuthContext
from common.security import check_same_origin, require_json


async def get_context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


async def get_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


AuthDep = Annotated[AuthContext, Depends(get_context)]
SettingsDep = Annotated[AuthSettings, Depends(get_settings)]


async def same_origin(request: Request, settings: SettingsDep) -> None:
    check_same_origin(request, settings.allowed_origins)


# Every state-changing route: JSON bodies only, and no cookie-borne request from another site.
STATE_CHANGE = [Depends(require_json), Depends(same_origin)]


async def get_client_address(request: Request, settings: SettingsDep) -> str:
    peer = request.client.host if request.client else None
    forwarded_for = request.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded_for, settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(get_client_address)]
