"""Liveness, readiness and metrics endpoints; internal only (the gateway never routes them)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

# A check raises when its dependency does not answer. Checks return an awaitable (they run at
# once, each bounded by READINESS_TIMEOUT_SECONDS) or nothing.
ReadinessCheck = Callable[[], Awaitable[object] | None]
READINESS_TIMEOUT_SECONDS = 2.0


async def _run_check(name: str, check: ReadinessCheck) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            outcome = check()
            if inspect.isawaitable(outcome):
                await outcome
    except Exception as exc:
        logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
        return "unavailable"
    return "ok"


def ops_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """`checks` returns the named callables that raise when a dependency does not answer."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        named = dict(checks())
        outcomes = await asyncio.gather(*(_run_check(n, c) for n, c in named.items()))
        results = dict(zip(named, outcomes, strict=True))
        ready = all(value == "ok" for value in results.values())
        response.status_code = 200 if ready else 503
        return {"status": "ok" if ready else "unavailable", "checks": results}

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
