"""A stage process on the real broker serves /metrics (`otcdesk stage run --metrics-port`): two
stages in one process, one endpoint, the `stage` label telling them apart; an RFQ, its answer and
a garbage record move the counters a Prometheus scrape reads."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otcdesk.client import build_rfq
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from tests.integration.desk import namespace, processes, tails
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint by (name, sorted labels); empty while it is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _wait_for(
    port: int, wanted: dict[tuple[str, tuple[tuple[str, str], ...]], float], running: dict, logs: Path
) -> dict:
    """Scrape until every wanted sample reached its value (the process must stay up)."""
    deadline = time.monotonic() + 60
    samples = _scrape(port)
    while not all(samples.get(key, 0.0) >= value for key, value in wanted.items()):
        assert running["stages"].poll() is None, tails(logs)
        assert time.monotonic() < deadline, f"counters did not move: {[k for k in wanted if k not in samples]}"
        time.sleep(0.5)
        samples = _scrape(port)
    return samples


def _rfqs_in(count: int, kind: str = "rfq") -> dict:
    return {("otcdesk_stage_events_in_total", (("stage", "aggregator"), ("topic", "rfq"), ("type", kind))): count}


def test_a_stage_process_serves_its_counters_on_its_metrics_port(stack: Settings, tmp_path: Path) -> None:
    """One RFQ and a garbage record wait on the topic before the process starts (its start-up read
    handles them: taken, not timed), a second RFQ comes once it runs (taken and timed)."""
    port = free_port()
    with namespace(stack) as settings:
        first = build_rfq("ACME", "BTC/USD", "buy", qty_base="1", settings=settings)  # no books: a refusal
        with EventProducer(settings) as producer:
            producer.produce(first)
            producer.produce_bytes(settings.topic("rfq"), b"garbage-key", b"\xc3\x01 not avro")
        with processes(
            settings, {"stages": ["stage", "run", "aggregator", "quote-engine", "--metrics-port", str(port)]}, tmp_path
        ) as running:
            _wait_for(port, {**_rfqs_in(1), **_rfqs_in(1, "undecodable")}, running, tmp_path)
            with EventProducer(settings) as producer:
                producer.produce(build_rfq("ACME", "BTC/USD", "buy", qty_base="2", settings=settings))
            priced_in = (
                "otcdesk_stage_events_in_total",
                (("stage", "quote-engine"), ("topic", "rfq-priced"), ("type", "rfq_priced")),
            )
            samples = _wait_for(port, {**_rfqs_in(2), priced_in: 2}, running, tmp_path)
    assert (
        _get(samples, "otcdesk_stage_events_out_total", stage="aggregator", topic="rfq-priced", type="rfq_priced") == 2
    )
    assert _get(samples, "otcdesk_stage_handler_seconds_count", stage="aggregator", type="rfq") == 1
    assert _get(samples, "otcdesk_stage_events_out_total", stage="aggregator", topic="dlq", type="dead_letter") == 1
    assert (
        _get(samples, "otcdesk_stage_dead_letters_total", stage="aggregator", reason="decode:unknown_fingerprint") == 1
    )
    assert (
        _get(samples, "otcdesk_stage_events_out_total", stage="quote-engine", topic="quotes", type="quote_reject") == 2
    )
    assert _get(samples, "process_start_time_seconds") > 0
