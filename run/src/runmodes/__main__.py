"""`python -m runmodes` (what `make run` runs): the whole system on 127.0.0.1:$PORT."""

from __future__ import annotations

import os

import uvicorn

from common.logging import configure_logging


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    configure_logging(
        service="standalone",
        level=os.environ.get("LOG_LEVEL", "INFO"),
        json=os.environ.get("LOG_JSON", "false").lower() == "true",
    )
    print(f"Referral platform (single process) on http://{host}:{port}/  - Ctrl-C stops it")
    # The process is its own edge: no peer's X-Forwarded-For is believed (uvicorn would take
    # one from 127.0.0.1, letting any local forwarder pick the client address the caps count).
    uvicorn.run(
        "runmodes.single:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
