"""`python -m referral_service.webhook_worker`: delivers referral's `referral.activated` events.

For WEBHOOK_DELIVERY=worker, where the service only writes its events. Reads
REFERRAL_DATABASE_URL and the WEBHOOK_* settings; serves `/healthz` and `/metrics` on
WEBHOOK_WORKER_PORT; stops on SIGTERM after the deliveries in flight. Any number of these may
run against one database.
"""

from __future__ import annotations

from common import outbox
from common.logging import configure_logging
from common.settings import load_settings
from referral_service.config import ReferralWebhookWorkerSettings
from referral_service.models import WEBHOOK_OUTBOX
from referral_service.repository import REFERRAL_ACTIVATED


def main() -> None:
    settings = load_settings(ReferralWebhookWorkerSettings)
    configure_logging(service="referral-webhooks", level=settings.log_level, json=settings.log_json)
    app = outbox.worker_app(
        settings,
        database_url=settings.referral_database_url,
        table=WEBHOOK_OUTBOX,
        event_types=[REFERRAL_ACTIVATED],
    )
    outbox.serve_worker(app, port=settings.webhook_worker_port)


if __name__ == "__main__":
    main()
