"""The faust app every stage runs on: its worker leaves the root logger at the level asked for
(faust's own worker turns it to DEBUG for a start-up spinner, and every aiokafka debug line then
costs a LogRecord on the quote path); its consumer resumes partitions only with the flow and
fetches with a copy of its active partitions (the real-broker test is
tests/integration/test_recovery_seek.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from faust.types import TP

from otcdesk.settings import Settings
from streams.app import DeskWorker, SeekFirstConsumer, make_app


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The worker reconfigures the root logger: put it back for the other tests."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_worker_keeps_the_root_logger_at_the_asked_level() -> None:
    app = make_app("unit-logging", Settings().model_copy(update={"namespace": "unit-"}))
    worker = app.Worker(loglevel="warn", redirect_stdouts=False)
    assert isinstance(worker, DeskWorker)
    worker._setup_logging()
    root = logging.getLogger()
    assert root.level == logging.WARNING
    assert not logging.getLogger("aiokafka.consumer.fetcher").isEnabledFor(logging.DEBUG)
    assert all(h.level >= logging.WARNING for h in root.handlers)


def _consumer() -> SeekFirstConsumer:
    consumer = make_app("unit-consumer", Settings().model_copy(update={"namespace": "unit-"})).consumer
    assert isinstance(consumer, SeekFirstConsumer)
    return consumer


def test_resumed_partitions_deliver_only_once_the_flow_resumes() -> None:
    consumer = _consumer()
    stream, changelog = TP("rfq", 0), TP("t-changelog", 0)
    consumer.pause_partitions({stream, changelog})
    consumer.resume_partitions({stream, changelog})
    assert not consumer._get_active_partitions()  # faust seeks and clears its queues here
    consumer.pause_partitions({changelog})  # paused again before the flow resumed: stays paused
    consumer.resume_flow()
    assert consumer._get_active_partitions() == {stream}
    assert consumer.flow_active


def test_a_fetch_reads_a_copy_of_the_active_partitions() -> None:
    asyncio.run(_fetch_reads_a_copy())


async def _fetch_reads_a_copy() -> None:
    consumer = _consumer()
    asked: list[object] = []

    async def fetch(partitions: object, timeout: float) -> dict:
        asked.append(partitions)
        return {}

    consumer._thread.getmany = fetch  # the consumer thread reads the set while the loop changes it
    live = {TP("rfq", 0)}
    await consumer._getmany(live, 1.0)
    live.clear()
    assert asked == [frozenset({TP("rfq", 0)})]
    assert await consumer._getmany(live, 1.0) == {} and len(asked) == 1  # never "every partition"
