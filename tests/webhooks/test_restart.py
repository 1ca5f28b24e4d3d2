"""`make run`'s single process, killed while its events wait for a receiver that is down, and
started again on the same state: every event is delivered, under its first webhook-id."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from testkit.plugin import free_port
from testkit.webhook_receiver import WebhookReceiver
from tests.e2e.client import activate, profile, sign_in
from tests.e2e.modes import running_single

from .conftest import RUN_SETTINGS, SECRET, WEBHOOK_SETTINGS
from .test_journey import journey_delivered


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def single_process(
    var_dir: Path, port: int, receiver: WebhookReceiver, log: Path
) -> AbstractContextManager[Popen[bytes]]:
    settings = {**RUN_SETTINGS, **WEBHOOK_SETTINGS, "WEBHOOK_URL": receiver.url}
    return running_single(settings, port=port, var_dir=var_dir, log_path=log)


def test_events_pending_when_the_process_dies_are_delivered_after_it_restarts(
    receiver: WebhookReceiver, tmp_path: Path, logs: Path
) -> None:
    var_dir, port = tmp_path / "var", free_port()
    base_url = f"http://127.0.0.1:{port}"
    receiver.stop()
    with single_process(var_dir, port, receiver, logs / "single-restart-1.log") as process:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            inviter = sign_in(client)
            invitee = sign_in(client)
            code = profile(client, inviter)["invite_code"]
            assert activate(client, invitee, code).status_code == 200
        # Nothing could be delivered; the process dies without a chance to clean up.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert receiver.received == []

    receiver.start()
    with single_process(var_dir, port, receiver, logs / "single-restart-2.log"):
        receiver.wait_for(lambda r: journey_delivered(r, inviter, invitee), timeout=30)
    assert all(request.verified for request in receiver.received)
    # Each event under its one webhook-id. Delivery is at least once: an attempt whose outcome
    # could not be recorded is made again, under the same id, and receivers deduplicate on it.
    ids = {request.webhook_id for request in receiver.accepted()}
    assert len(ids) == 3, ids
