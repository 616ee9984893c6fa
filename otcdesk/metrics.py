"""The desk's Prometheus series (docs/operations.md, Metrics) and the one /metrics endpoint of a process.

The series live in the client library's global registry, created once at import: a process that
hosts several stages serves all of them on one port, told apart by the `stage` label. Counting
costs a dictionary lookup and a locked add per event: the labelled children are cached per stage
(`StageMetrics`), so no label is resolved on the hot path. Label values are bounded: stage,
desk topic and schema names, dead-letter reason codes, venues and symbols; never an id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("otcdesk.metrics")

#: Event type label of bytes that did not decode into any event.
UNDECODABLE = "undecodable"

HANDLER_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Desk time from an RFQ to its quote: up to and past the default 5 s quote TTL.
QUOTE_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

EVENTS_IN = Counter("otcdesk_stage_events_in", "Records a stage took from a topic", ["stage", "topic", "type"])
EVENTS_OUT = Counter("otcdesk_stage_events_out", "Records a stage produced", ["stage", "topic", "type"])
HANDLER_SECONDS = Histogram(
    "otcdesk_stage_handler_seconds",
    "Wall time in the stage's handler per event",
    ["stage", "type"],
    buckets=HANDLER_BUCKETS_S,
)
DEAD_LETTERS = Counter(
    "otcdesk_stage_dead_letters", "Records a stage dead-lettered, by reason code", ["stage", "reason"]
)
EVENT_TIME_DELAY = Gauge(
    "otcdesk_stage_event_time_delay_seconds",
    "Newest event time on the stage's inputs minus the newest it has handled",
    ["stage"],
)
QUOTE_LATENCY = Histogram(
    "otcdesk_quote_latency_seconds", "RFQ event time to quote sent, in desk time", buckets=QUOTE_LATENCY_BUCKETS_S
)
RESTARTS = Counter("otcdesk_supervisor_restarts", "Children the supervisor restarted after a crash", ["process"])
FEED_UPDATES = Counter("otcdesk_feed_updates", "Book updates published on prices", ["venue", "symbol"])


def serve(host: str, port: int | None, what: str) -> int | None:
    """Serve this process's series on http://host:port/metrics (a daemon thread); None or 0: off.

    A port already taken does not stop the process: one warning line and it runs without metrics
    (a desk that keeps quoting beats one that crash-loops over its observability; Prometheus shows
    the target down). Returns the port served, or None."""
    if not port:
        return None
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("%s: no /metrics on %s:%d (%s); running without metrics", what, host, port, exc.strerror or exc)
        return None
    log.info("%s: /metrics on %s:%d", what, host, port)
    return port


class StageMetrics:
    """One stage's series, labelled children cached. `namespace` is stripped from Kafka topic
    names so the `topic` label is the desk topic (`quotes`), whatever run or test prefix is on."""

    def __init__(self, stage: str, namespace: str = "") -> None:
        self.stage = stage
        self._prefix = len(namespace)
        self._in: dict[tuple[str, str], Callable[[], None]] = {}
        self._out: dict[tuple[str, str], Callable[[], None]] = {}
        self._handler: dict[str, Callable[[float], None]] = {}
        self._dead: dict[str, Callable[[], None]] = {}
        self.newest_input_us: int | None = None  # newest event time offered on an input
        self.newest_handled_us: int | None = None  # newest event time handled
        EVENT_TIME_DELAY.labels(stage).set_function(self.event_time_delay_s)

    def took(self, kafka_topic: str, event_type: str) -> None:
        key = (kafka_topic, event_type)
        inc = self._in.get(key)
        if inc is None:
            inc = self._in[key] = EVENTS_IN.labels(self.stage, kafka_topic[self._prefix :], event_type).inc
        inc()

    def produced(self, topic: str, event_type: str) -> None:
        """`topic`: the desk name (what `Stage.produce` is given)."""
        key = (topic, event_type)
        inc = self._out.get(key)
        if inc is None:
            inc = self._out[key] = EVENTS_OUT.labels(self.stage, topic, event_type).inc
        inc()

    def handled(self, event_type: str, seconds: float) -> None:
        observe = self._handler.get(event_type)
        if observe is None:
            observe = self._handler[event_type] = HANDLER_SECONDS.labels(self.stage, event_type).observe
        observe(seconds)

    def dead_lettered(self, reason: str) -> None:
        inc = self._dead.get(reason)
        if inc is None:
            inc = self._dead[reason] = DEAD_LETTERS.labels(self.stage, reason).inc
        inc()

    def offered(self, ts_us: int) -> None:
        if self.newest_input_us is None or ts_us > self.newest_input_us:
            self.newest_input_us = ts_us

    def reached(self, ts_us: int) -> None:
        if self.newest_handled_us is None or ts_us > self.newest_handled_us:
            self.newest_handled_us = ts_us

    def event_time_delay_s(self) -> float:
        """How far the handled event time is behind the inputs' (0 until both are known)."""
        if self.newest_input_us is None or self.newest_handled_us is None:
            return 0.0
        return max(self.newest_input_us - self.newest_handled_us, 0) / 1e6


def event_type(value: object) -> str:
    """The `type` label of a decoded value: its schema name (`Event.SCHEMA`, `Peeked.event`), else
    `undecodable`."""
    schema = getattr(value, "SCHEMA", None) or getattr(value, "event", None)
    return schema if isinstance(schema, str) and schema else UNDECODABLE
