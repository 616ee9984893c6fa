"""A faust worker with a table whose restart seeks slowly: where faust 0.15.3 dropped records.

Run as a real worker process (`python -m tests.integration.recovering_app worker`). Its one agent
stores every event of OTCDESK_TEST_SOURCE in a table (so a restart reads a changelog back, the
recovery path every desk stage with a table takes) and forwards it to OTCDESK_TEST_TARGET.
OTCDESK_TEST_SEEK_DELAY_S makes the seek to the committed offsets that long, so the fetcher
certainly runs during it; each record takes OTCDESK_TEST_HANDLE_DELAY_S and the stream's buffer
holds 4, so records wait in the queue (and the fetcher waits for room) when the seek ends, as
they do in a busy stage; OTCDESK_TEST_STOCK_CONSUMER=1 uses faust's own consumer instead of
the desk's (streams.app.SeekFirstConsumer), to show what that consumer prevents.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.topics import ensure_changelog_topic
from streams.app import DeskTransport, SeekFirstConsumer, make_app
from streams.codec import decode_value

DELAY_S = float(os.environ.get("OTCDESK_TEST_SEEK_DELAY_S", "0"))
HANDLE_DELAY_S = float(os.environ.get("OTCDESK_TEST_HANDLE_DELAY_S", "0"))
BASE = aiokafka_driver.Consumer if os.environ.get("OTCDESK_TEST_STOCK_CONSUMER") == "1" else SeekFirstConsumer


class SlowSeekConsumer(BASE):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        await asyncio.sleep(DELAY_S)
        return await super().seek_to_committed()


class SlowSeekTransport(DeskTransport):
    Consumer = SlowSeekConsumer


settings = Settings()
name = os.environ.get("OTCDESK_TEST_STAGE", "test-recovering")
app = make_app(name, settings, stream_buffer_maxsize=4)
app.transport = SlowSeekTransport(app.conf.broker_consumer, app)
# A table of raw bytes: the record's value, stored with its changelog (the recovery path).
seen = app.Table("seen", key_type=bytes, value_type=bytes, partitions=settings.topics.partitions)
seen.key_serializer, seen.value_serializer = "raw", "raw"
seen.changelog_topic = seen._new_changelog_topic()
TARGET = os.environ.get("OTCDESK_TEST_TARGET", "recovering-target")
SOURCE = os.environ.get("OTCDESK_TEST_SOURCE", "recovering-source")
target = app.topic(settings.topic(TARGET), key_type=bytes, value_type=None, allow_empty=True)


@app.agent(
    app.topic(settings.topic(SOURCE), key_type=bytes, value_type=None, allow_empty=True), name="store_and_forward"
)
async def store_and_forward(stream: faust.StreamT) -> None:
    async for event in stream.events():
        await asyncio.sleep(HANDLE_DELAY_S)
        value = decode_value(event.value) if isinstance(event.value, bytes) else event.value
        raw = default_serde().encode(value)
        seen[value.key.encode()] = raw
        await target.send(key=value.key.encode(), value=raw)


if __name__ == "__main__":
    ensure_changelog_topic(settings, seen.changelog_topic.get_topic_name(), seen.partitions)
    app.main()
