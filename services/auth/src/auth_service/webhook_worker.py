"""`python -m auth_service.webhook_worker`: delivers the auth service's `user.registered` events.

For WEBHOOK_DELIVERY=worker, where the service only writes its events. Reads AUTH_DATABASE_URL
and the WEBHOOK_* settings; serves `/healthz` and `/metrics` on WEBHOOK_WORKER_PORT; stops on
SIGTERM after the deliveries in flight. Any number of these may run against one database.
"""

from __future__ import annotations

from auth_service.config import AuthWebhookWorkerSettings
from auth_service.models import WEBHOOK_OUTBOX
from auth_service.repository import USER_REGISTERED
from common import outbox
from common.logging import configure_logging
from common.settings import load_settings


def main() -> None:
    settings = load_settings(AuthWebhookWorkerSettings)
    configure_logging(service="auth-webhooks", level=settings.log_level, json=settings.log_json)
    app = outbox.worker_app(
        settings,
        database_url=settings.auth_database_url,
        table=WEBHOOK_OUTBOX,
        event_types=[USER_REGISTERED],
    )
    outbox.serve_worker(app, port=settings.webhook_worker_port)


if __name__ == "__main__":
    main()
