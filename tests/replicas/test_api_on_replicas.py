"""The end-to-end API suite (tests/e2e/test_api.py), every test of it, against two replicas of
each service behind one gateway: whatever state a request leaves, the next one may meet it on
the other process."""

from __future__ import annotations

import pytest

from tests.e2e import conftest as e2e
from tests.e2e import test_api

pytestmark = pytest.mark.e2e

# The suite's tests and the e2e `client` fixture, taken over as they are; `base_url` comes from
# this folder's conftest (the replicas' gateway) instead of the e2e one (the two run modes).
globals().update(
    {name: value for name, value in vars(test_api).items() if name.startswith("test_")}
)
client = e2e.client
