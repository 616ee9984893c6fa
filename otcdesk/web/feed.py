"""The web process's one Kafka consumer: the deal topics, folded into the blotter, pushed to every
browser.

It is assigned every partition (no group join, nothing committed, so it never shows in `otcdesk
lag`) from the records of the last `web.replay_s` wall seconds, which catches the deals in
flight when the page starts; the history before that comes from ClickHouse's blotter report.
librdkafka reconnects by itself after a broker restart; a metadata request every few seconds
tells the page whether the broker answers (the page shows a banner while it does not).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from otcdesk.kafka import consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings

log = logging.getLogger(__name__)

DEAL_TOPICS = ("quotes", "trades", "orders", "fills", "settlements", "recon")
#: Seconds between two checks that the broker answers.
HEALTH_EVERY_S = 2.0

OnEvent = Callable[[str, object], None]
OnStatus = Callable[[bool, str], None]


class DealFeed:
    """Runs in its own thread; hands (topic, event) and broker up/down to the event loop's callbacks."""

    def __init__(self, settings: Settings, on_event: OnEvent, on_status: OnStatus) -> None:
        self.settings = settings
        self._on_event, self._on_status = on_event, on_status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected: bool | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        def on_event(topic: str, event: object) -> None:
            loop.call_soon_threadsafe(self._on_event, topic, event)

        def on_status(up: bool, detail: str) -> None:
            loop.call_soon_threadsafe(self._on_status, up, detail)

        self._thread = threading.Thread(target=self._run, args=(on_event, on_status), name="web-deal-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, on_event: OnEvent, on_status: OnStatus) -> None:
        consumer = Consumer(
            consumer_config(self.settings, self.settings.group("web"), **{"enable.partition.eof": False})
        )
        try:
            while not self._stop.is_set() and not self._assign(consumer, on_status):
                self._stop.wait(HEALTH_EVERY_S)
            serde, checked = default_serde(), time.monotonic()
            while not self._stop.is_set():
                for msg in consumer.consume(500, 0.5):
                    topic, value = msg.topic(), msg.value()
                    if msg.error() or topic is None or value is None:
                        continue
                    try:
                        on_event(topic[len(self.settings.namespace) :], serde.decode(value))
                    except DecodeError:
                        continue  # the stages dead-letter it; the blotter only shows deals
                if time.monotonic() - checked >= HEALTH_EVERY_S:
                    checked = time.monotonic()
                    self._health(consumer, on_status)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer, on_status: OnStatus) -> bool:
        names = [self.settings.topic(t) for t in DEAL_TOPICS]
        try:
            meta = consumer.list_topics(timeout=5).topics
            since_ms = int((time.time() - self.settings.web.replay_s) * 1000)
            wanted = [TopicPartition(n, p, since_ms) for n in names if n in meta for p in meta[n].partitions]
            starts = consumer.offsets_for_times(wanted, timeout=10) if wanted else []
        except KafkaException as exc:
            self._status(on_status, False, str(exc.args[0]))
            return False
        consumer.assign(
            [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END) for tp in starts]
        )
        self._status(on_status, True, f"{len(starts)} partitions")
        return True

    def _health(self, consumer: Consumer, on_status: OnStatus) -> None:
        try:
            consumer.list_topics(self.settings.topic(DEAL_TOPICS[0]), timeout=HEALTH_EVERY_S)
            self._status(on_status, True, "")
        except KafkaException as exc:
            self._status(on_status, False, str(exc.args[0]))

    def _status(self, on_status: OnStatus, up: bool, detail: str) -> None:
        if up != self.connected:
            self.connected = up
            log.info("broker %s %s", "up" if up else "down", detail)
            on_status(up, detail)
