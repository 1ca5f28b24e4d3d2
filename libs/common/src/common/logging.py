"""JSON logs, one object a line, each carrying the request id of the request it belongs to."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _ConfiguredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the root handler as ours, so a second configuration in the same process is a no-op."""


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """Route the root logger (and uvicorn's) to stdout, as JSON unless told otherwise.

    The first call in a process wins: in the single-process mode every service app asks, and
    the process's own configuration (service "standalone") is the one that stands.
    """
    root = logging.getLogger()
    if any(isinstance(h, _ConfiguredHandler) for h in root.handlers):
        return
    handler = _ConfiguredHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The middleware writes one access line per request with the request id; uvicorn's own
    # access log would repeat it without one. httpx would add a line per service-to-service
    # call that the called service logs already.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
