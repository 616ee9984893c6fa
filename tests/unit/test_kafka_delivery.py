"""EventProducer and the broker checks with nothing listening: no broker needed. The cases that
need a broker's answer (unknown topic, refused record) are in tests/integration/test_cli_errors.py."""

from __future__ import annotations

import logging
import time

import pytest

from otcdesk.errors import DeliveryError, TransientError
from otcdesk.events import Rfq
from otcdesk.kafka import LIBRDKAFKA_LOG, EventProducer, check_broker, client_config
from otcdesk.settings import Settings
from otcdesk.stack.ports import ephemeral_port
from tests.samples import sample_events


def sample_rfq() -> Rfq:
    return next(e for e in sample_events() if isinstance(e, Rfq))


def _nowhere(stack: str = "local") -> Settings:
    """Settings aimed at a port nothing listens on (no stack.json there to override it)."""
    return Settings(stack=stack, kafka_bootstrap=f"127.0.0.1:{ephemeral_port()}", state_dir="/nonexistent")


def test_a_record_nobody_acknowledged_is_a_delivery_error_not_a_silent_count(capfd: pytest.CaptureFixture[str]) -> None:
    producer = EventProducer(_nowhere())
    producer.produce(sample_rfq())
    with pytest.raises(DeliveryError, match=r"acknowledged 0 of 1 records: 1 unanswered after 0.5 s"):
        producer.confirm(timeout_s=0.5)
    assert "FAIL" not in capfd.readouterr().err  # librdkafka's log went to its logger, not to stderr


def test_leaving_the_block_confirms_and_an_exception_in_flight_stays_the_news() -> None:
    with pytest.raises(DeliveryError), EventProducer(_nowhere(), **{"message.timeout.ms": 300}) as producer:
        producer.produce(sample_rfq())
    # The caller's KeyError is not replaced by the DeliveryError of the unsent record.
    with pytest.raises(KeyError), EventProducer(_nowhere(), **{"message.timeout.ms": 300}) as producer:
        producer.produce(sample_rfq())
        raise KeyError("the caller's own failure")


@pytest.mark.parametrize(
    "stack, fix", [("local", "start it with `otcdesk stack up`"), ("external", "check KAFKA_BOOTSTRAP")]
)
def test_a_broker_nobody_listens_for_is_named_at_once_with_its_fix(stack: str, fix: str) -> None:
    settings = _nowhere(stack)
    began = time.monotonic()
    with pytest.raises(TransientError) as caught:
        check_broker(settings, timeout_s=30)
    assert time.monotonic() - began < 5  # not the 30 s librdkafka would retry a refused connection
    assert str(caught.value) == f"Kafka is not reachable at {settings.bootstrap} (connection refused) — {fix}"


def test_every_client_sends_librdkafka_log_to_a_quiet_logger() -> None:
    assert client_config(_nowhere())["logger"] is LIBRDKAFKA_LOG
    assert not LIBRDKAFKA_LOG.propagate and any(isinstance(h, logging.NullHandler) for h in LIBRDKAFKA_LOG.handlers)


def test_records_produced_in_bulk_are_counted_and_their_failures_kept() -> None:
    """`produce_records`: every record handed over is counted, a full local queue is waited out,
    and each record's failure reaches `stats` (first errors kept) and `confirm`."""
    producer = EventProducer(_nowhere(), **{"message.timeout.ms": 300, "queue.buffering.max.messages": 2})
    rfq = sample_rfq()
    records = [(f"k{i}".encode(), producer.serde.encode(rfq)) for i in range(5)]
    producer.produce_records("rfq", records)
    assert producer.records_produced == 5  # 3 of them only once the queue had room again
    with pytest.raises(DeliveryError, match=r"acknowledged 0 of 5 records: 5 failed, first rfq\["):
        producer.confirm(timeout_s=5)
    assert (producer.stats.delivered, producer.stats.failed) == (0, 5) and len(producer.stats.errors) == 5
