"""Liveness, readiness and metrics endpoints; internal only (the gateway never routes them)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], object]


def ops_router(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """`checks` returns the named callables that raise when a dependency does not answer."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(response: Response) -> dict[str, object]:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
                results[name] = "unavailable"
        ready = all(value == "ok" for value in results.values())
        response.status_code = 200 if ready else 503
        return {"status": "ok" if ready else "unavailable", "checks": results}

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
