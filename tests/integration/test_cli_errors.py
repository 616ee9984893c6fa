"""The CLI against a real broker that is missing things, refusing records or not there at all.

Every failure is one `error:` line on stderr naming the component and the command that fixes it,
exit code 2, no traceback and none of librdkafka's own log lines ("FAIL ..."); a command that
publishes exits 0 only once the broker has acknowledged every record. The commands run as
subprocesses, as a person runs them (librdkafka writes to the process's stderr directly).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from otcdesk.client import publish_rfq
from otcdesk.clock import wall_now_us
from otcdesk.errors import DeliveryError, TopicMissingError
from otcdesk.events import Quote, QuoteAction, QuoteResponse
from otcdesk.kafka import EventProducer, admin_client
from otcdesk.settings import Settings
from otcdesk.stack.ports import ephemeral_port
from otcdesk.topics import delete_namespace, describe_topics
from tests.integration.desk import OTCDESK, TopicReader, env_of, namespace
from tests.samples import sample_events

pytestmark = pytest.mark.integration

PUBLISH = ["rfq", "publish", "--client", "ACME", "--symbol", "BTC/USD", "--side", "buy", "--qty", "1"]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float


def otcdesk(env: dict[str, str], *args: str, timeout_s: float = 180) -> Run:
    began = time.monotonic()
    done = subprocess.run([*OTCDESK, *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def error_line(run: Run) -> str:
    """The run's one error line (a progress bar may precede it on stderr), after the common checks."""
    assert run.code == 2, run
    assert "Traceback" not in run.err and "FAIL" not in run.err, run.err
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and run.err.rstrip("\n").endswith(errors[0]), run.err
    return errors[0]


def one_error(run: Run) -> str:
    """The only line on stderr: an error."""
    line = error_line(run)
    assert run.err.splitlines() == [line], run.err
    return line


def published(settings: Settings, topic: str) -> int:
    return sum(s.messages for s in describe_topics(settings) if s.name == settings.topic(topic))


@pytest.fixture
def desk(stack: Settings) -> Iterator[Settings]:
    """A namespace with every desk topic."""
    with namespace(stack) as settings:
        yield settings


@pytest.fixture
def bare(stack: Settings) -> Iterator[Settings]:
    """A namespace without topics (as before `otcdesk init`)."""
    settings = stack.model_copy(update={"namespace": f"t{uuid.uuid4().hex[:8]}-"})
    yield settings
    delete_namespace(settings)  # nothing should be there; a regression must not leave topics behind


@pytest.fixture
def refusing(stack: Settings) -> Iterator[Settings]:
    """A namespace whose `rfq` topic exists but refuses every RFQ (max.message.bytes below one)."""
    settings = stack.model_copy(update={"namespace": f"t{uuid.uuid4().hex[:8]}-"})
    topic = NewTopic(
        settings.topic("rfq"),
        num_partitions=settings.topics.partitions,
        replication_factor=1,
        config={"max.message.bytes": "64"},
    )
    admin = admin_client(settings)  # held until the future resolves: a collected client cancels it
    admin.create_topics([topic])[topic.topic].result(timeout=30)
    yield settings
    delete_namespace(settings)


@pytest.fixture
def down(tmp_path: Path) -> dict[str, str]:
    """The local stack's settings with nothing listening where Kafka (and ClickHouse) should be."""
    return dict(
        os.environ,
        OTCDESK_STACK="local",
        OTCDESK_STATE_DIR=str(tmp_path),
        OTCDESK_NAMESPACE="",
        KAFKA_BOOTSTRAP=f"127.0.0.1:{ephemeral_port()}",
        CLICKHOUSE_URL=f"clickhouse://default@127.0.0.1:{ephemeral_port()}/otcdesk",
    )


# -- publishing is honest -------------------------------------------------------------------------


def test_publish_to_a_missing_topic_fails_at_once_without_an_rfq_id(bare: Settings) -> None:
    run = otcdesk(env_of(bare), *PUBLISH)
    assert one_error(run) == f"error: topic {bare.topic('rfq')} does not exist — create it with `otcdesk init`"
    assert run.out == ""
    assert run.seconds < 25  # librdkafka alone would hold the record 30 s before failing it


def test_publish_refused_by_the_broker_exits_2_without_an_rfq_id(refusing: Settings) -> None:
    run = otcdesk(env_of(refusing), *PUBLISH)
    line = one_error(run)
    assert "acknowledged 0 of 1 records: 1 failed" in line and "Message size too large" in line, line
    assert run.out == ""


def test_rfq_load_counts_acked_and_failed_and_exits_2(refusing: Settings) -> None:
    run = otcdesk(env_of(refusing), "rfq", "load", "--rate", "10", "--duration", "1")
    assert "sent 10/10, acked 0, failed 10;" in run.out, run
    assert error_line(run).startswith(
        "error: Kafka acknowledged 0 of 10 RFQs sent (10 failed, 0 unanswered); first failure "
    )


def test_rfq_load_and_feed_to_missing_topics_publish_nothing(bare: Settings) -> None:
    load = otcdesk(env_of(bare), "rfq", "load", "--rate", "10", "--duration", "1")
    assert one_error(load) == f"error: topic {bare.topic('rfq')} does not exist — create it with `otcdesk init`"
    feed = otcdesk(env_of(bare), "feed", "run", "--duration", "1", "--no-sleep")
    assert one_error(feed) == f"error: topic {bare.topic('prices')} does not exist — create it with `otcdesk init`"
    assert load.out == feed.out == ""


def test_a_published_rfq_prints_its_id_as_given(desk: Settings) -> None:
    run = otcdesk(env_of(desk), *PUBLISH, "--rfq-id", "[bold]x[/bold]")
    assert (run.code, run.out, run.err) == (0, "[bold]x[/bold]\n", "")  # not rich markup: the id itself
    assert published(desk, "rfq") == 1


def test_the_python_api_raises_unless_the_broker_acknowledged(
    bare: Settings, refusing: Settings, desk: Settings
) -> None:
    began = time.monotonic()
    with pytest.raises(TopicMissingError, match="create it with `otcdesk init`"):
        publish_rfq("ACME", "BTC/USD", "buy", qty_base="1", settings=bare)
    assert time.monotonic() - began < 10
    with pytest.raises(DeliveryError, match="Message size too large"):
        publish_rfq("ACME", "BTC/USD", "buy", qty_base="1", settings=refusing)
    assert publish_rfq("ACME", "BTC/USD", "buy", qty_base="1", rfq_id="api-1", settings=desk) == "api-1"


# -- broker down, topics missing -------------------------------------------------------------------

KAFKA_COMMANDS = [
    PUBLISH,
    ["rfq", "load", "--rate", "1", "--duration", "1"],
    ["quote", "accept", "Q1"],
    ["quote", "decline", "Q1"],
    ["summary"],
    ["init"],
    ["topics", "list"],
    ["topics", "create"],
    ["lag"],
    ["feed", "run", "--duration", "1"],
    ["sink", "run", "--once", "--max-seconds", "5"],
    ["simulate", "--rfqs", "1", "--timeout", "30"],
    ["run", "all", "--duration", "5", "--no-feed", "--stages", "recon"],
]


@pytest.mark.parametrize("args", KAFKA_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_kafka_down_is_one_line_naming_the_fix(down: dict[str, str], args: list[str]) -> None:
    run = otcdesk(down, *args)
    assert one_error(run) == (
        f"error: Kafka is not reachable at {down['KAFKA_BOOTSTRAP']} (connection refused) "
        "— start it with `otcdesk stack up`"
    )
    assert run.out == ""


@pytest.fixture
def mute(down: dict[str, str]) -> Iterator[dict[str, str]]:
    """A port that takes TCP connections and closes them at once: not Kafka, so librdkafka has
    things to log (a refused port is caught before librdkafka is asked)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield down | {"KAFKA_BOOTSTRAP": f"127.0.0.1:{server.getsockname()[1]}"}
    stop.set()
    thread.join(5)
    server.close()


def test_a_broker_that_does_not_answer_is_one_line_and_verbose_shows_librdkafka(mute: dict[str, str]) -> None:
    quiet = otcdesk(mute, "topics", "list")
    assert one_error(quiet).startswith(
        f"error: Kafka is not reachable at {mute['KAFKA_BOOTSTRAP']} (no answer in 5 s: "
    )
    verbose = otcdesk(mute, "--verbose", "topics", "list")
    assert verbose.code == 2 and verbose.err.splitlines()[-1] == one_error(quiet), verbose.err
    assert "otcdesk.librdkafka: FAIL" in verbose.err, verbose.err  # librdkafka's own lines, through logging


@pytest.mark.parametrize(
    "args", [["quote", "accept", "Q1"], ["quote", "decline", "Q1"], ["summary"]], ids=lambda a: " ".join(a[:2])
)
def test_missing_topics_are_named_with_otcdesk_init(bare: Settings, args: list[str]) -> None:
    line = one_error(otcdesk(env_of(bare), *args))
    assert line.startswith("error: topics ") and line.endswith("do not exist — create them with `otcdesk init`")
    assert bare.topic("quotes") in line and bare.topic("trades") in line


# -- values out of their domain: refused before anything is published ---------------------------------


@pytest.mark.parametrize(
    "args, says",
    [
        (["quote", "accept", "Q1", "--lookback", "nan"], "--lookback must be a positive number up to 604,800, got nan"),
        (["quote", "accept", "Q1", "--lookback", "inf"], "--lookback must be a positive number up to 604,800, got inf"),
        (
            ["quote", "accept", "Q1", "--lookback", "1e300"],
            "--lookback must be a positive number up to 604,800, got 1e+300",
        ),
        (
            ["run", "all", "--speed", "nan", "--duration", "5"],
            "--speed must be a positive number up to 10,000, got nan",
        ),
        (["run", "all", "--duration", "nan"], "--duration must be a number from 0 to 31,536,000, got nan"),
        ([*PUBLISH, "--follow", "--timeout", "nan"], "--timeout must be a positive number up to 86,400, got nan"),
        ([*PUBLISH, "--two-way"], "--two-way asks for both sides; it cannot go with --side buy"),
        (
            ["rfq", "publish", "--client", "AC\nME", "--symbol", "BTC/USD", "--qty", "1"],
            "client id must not contain control characters (found U+000A)",
        ),
        (
            ["rfq", "publish", "--client", "AC\x1b[31mME", "--symbol", "BTC/USD", "--qty", "1"],
            "client id must not contain control characters (found U+001B)",
        ),
        ([*PUBLISH, "--rfq-id", "r\x7f1"], "rfq id must not contain control characters (found U+007F)"),
        (["rfq", "publish", "--client", "ACME", "--symbol", "[/x]", "--qty", "1"], "unknown symbol '[/x]'"),
    ],
)
def test_a_value_out_of_its_domain_is_refused_before_publishing(desk: Settings, args: list[str], says: str) -> None:
    run = otcdesk(env_of(desk), *args)
    line = one_error(run)
    assert says in line and "\x1b" not in run.err, run.err
    assert run.out == "" and published(desk, "rfq") == 0


# -- quote decline of a quote the CLI sees expired ----------------------------------------------------


def _quote(settings: Settings, valid_for_s: float) -> Quote:
    """A quote of the desk's shape on the namespace's `quotes` topic (no stage needed to find it)."""
    sample = next(e for e in sample_events() if isinstance(e, Quote))
    now_us = wall_now_us()
    quote = replace(
        sample,
        event_id=str(uuid.uuid4()),
        ts_us=now_us,
        rfq_id=str(uuid.uuid4()),
        quote_id=f"q-{uuid.uuid4().hex[:12]}",
        qty_base=Decimal("1"),
        valid_until_us=now_us + int(valid_for_s * 1_000_000),
    )
    with EventProducer(settings) as producer:
        producer.produce(quote)
    return quote


def test_declining_an_expired_quote_is_refused_and_sends_nothing(desk: Settings) -> None:
    expired, live = _quote(desk, -30), _quote(desk, 3600)
    run = otcdesk(env_of(desk), "quote", "decline", expired.quote_id)
    line = one_error(run)
    assert line.startswith(f"error: quote {expired.quote_id} expired at ") and "nothing left to decline" in line
    answered = otcdesk(env_of(desk), "quote", "decline", live.quote_id)
    assert (answered.code, answered.out, answered.err) == (0, f"declined {live.quote_id}\n", ""), answered
    reader = TopicReader(desk, ["quotes"])
    try:
        reader.poll(3)
        responses = reader.of(QuoteResponse)
    finally:
        reader.close()
    assert [(r.quote_id, r.action) for r in responses] == [(live.quote_id, QuoteAction.DECLINE)]
