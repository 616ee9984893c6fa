"""The faust app every stage runs on: its worker leaves the root logger at the level asked for
(faust's own worker turns it to DEBUG for a start-up spinner, and every aiokafka debug line then
costs a LogRecord on the quote path)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from otcdesk.settings import Settings
from streams.app import DeskWorker, make_app


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
