"""A one-agent faust app used by the integration test: forwards typed events from topic A to B.

Run as a real worker process (`python -m tests.integration.forwarder_app worker`) against the
real broker, with topics given by OTCDESK_TEST_SOURCE / OTCDESK_TEST_TARGET.
"""

from __future__ import annotations

import os

from otcdesk.events import Event
from otcdesk.settings import Settings
from streams.stage import Stage

stage = Stage(os.environ.get("OTCDESK_TEST_STAGE", "test-forwarder"), Settings())
TARGET = os.environ.get("OTCDESK_TEST_TARGET", "forward-target")


async def forward(event: Event) -> list[Event]:
    await stage.topic(TARGET).send(key=event.key.encode(), value=event)
    return []


stage.consume(os.environ.get("OTCDESK_TEST_SOURCE", "forward-source"), {Event: forward}, rank=0, waits_for=())
app = stage.app

if __name__ == "__main__":
    app.main()
