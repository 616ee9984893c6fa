"""Kafka security end to end, on a throwaway broker that takes only SASL/SCRAM-SHA-512 logins
(`scram_broker` in conftest), configured the documented way: OTCDESK_SECURITY__* variables.

With the right password the desk's confluent-kafka admin, producer and consumer, a faust stage in
a real worker process and the aiokafka fold all work; a wrong one is refused at once with the
broker's reason; neither password shows up in what those clients log, in the broker's logs, or
in the settings' repr and JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from otcdesk.errors import AuthenticationError
from otcdesk.events import Event, TradeBooked
from otcdesk.kafka import LIBRDKAFKA_LOG, EventProducer, admin_client, check_broker, consume, consumer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics
from streams.codec import decode_value
from streams.fold import TopicFold, aiokafka_auth
from tests.integration.scram_broker import ScramBroker
from tests.samples import sample_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
SERDE = default_serde()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def desk(scram_broker: ScramBroker) -> Settings:
    """The desk's settings for the SASL broker, with its topics made by the desk's admin client."""
    settings = scram_broker.settings()
    assert set(create_topics(settings).values()) == {"created"}
    return settings


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # aiokafka, faust and otcdesk at their most talkative
    monkeypatch.setattr(LIBRDKAFKA_LOG, "propagate", True)  # and librdkafka's own lines (quiet by default)
    return caplog


def _librdkafka_lines(logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """What librdkafka said: through its logger, plus anything it printed on stderr by itself."""
    said = "\n".join(r.getMessage() for r in logs.records if r.name == LIBRDKAFKA_LOG.name)
    return said + capfd.readouterr().err


def _password(settings: Settings) -> str:
    assert settings.security.sasl_password is not None
    return settings.security.sasl_password.get_secret_value()


def _assert_not_in(secret: str, texts: Iterable[str]) -> None:
    text = "\n".join(texts)
    assert text.strip(), "nothing captured: the check would prove nothing"
    assert secret not in text


def _logged_in(broker: ScramBroker) -> str:
    """aiokafka's line after a successful SASL login."""
    return f"Authenticated as {broker.user.name} via SCRAM-SHA-512"


def _trade(tag: str) -> TradeBooked:
    trade = next(e for e in sample_events() if isinstance(e, TradeBooked))
    return replace(trade, event_id=f"{tag}-trade")


def _forwarder(
    scram_broker: ScramBroker, tag: str, target: str, log_path: Path, password: str | None = None
) -> subprocess.Popen[bytes]:
    """tests/integration/forwarder_app.py (a Stage: streams.app.make_app) as a real faust worker,
    configured through its environment only, logging at debug level to log_path."""
    env = (
        os.environ
        | scram_broker.env(password)
        | {
            "OTCDESK_TEST_SOURCE": "trades",
            "OTCDESK_TEST_TARGET": target,
            "OTCDESK_TEST_STAGE": f"test-sasl-forwarder-{tag}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.forwarder_app", "worker", "--without-web", "-l", "debug"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


def _read_until(
    consumer: Consumer, event_id: str, timeout_s: float, check: Callable[[], None] = lambda: None
) -> Event | None:
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            check()
            for msg in consume(consumer, 1000, 1.0):
                event = SERDE.decode(msg.value())
                if event.event_id == event_id:
                    return event
    finally:
        consumer.close()
    return None


def test_settings_show_no_password(desk: Settings, scram_broker: ScramBroker) -> None:
    password = _password(desk)
    assert password == scram_broker.user.password.get_secret_value()
    _assert_not_in(
        password, [repr(desk), str(desk), desk.model_dump_json(), repr(desk.security), repr(scram_broker.user)]
    )


def test_confluent_admin_producer_and_consumer_log_in(
    desk: Settings, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    trade = _trade(tag)
    # debug=security,conf: librdkafka prints the SASL exchange and its whole configuration
    with EventProducer(desk, debug="security,conf") as producer:
        producer.produce(trade)
    assert producer.stats.delivered == 1
    consumer = Consumer(consumer_config(desk, f"test-sasl-{tag}"))
    consumer.subscribe([desk.topic("trades")])
    assert _read_until(consumer, trade.event_id, 30) == trade
    librdkafka = _librdkafka_lines(logs, capfd)
    assert "sasl.password = [redacted]" in librdkafka
    _assert_not_in(_password(desk), [librdkafka, logs.text])


def test_faust_stage_worker_consumes_and_produces(desk: Settings, scram_broker: ScramBroker, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    target = f"test-sasl-forwarded-{tag}"
    admin = admin_client(desk)  # referenced until the future resolves: a collected client cancels it
    admin.create_topics([NewTopic(target, 1, 1)])[target].result(timeout=30)
    log_path = tmp_path / "worker.log"
    worker = _forwarder(scram_broker, tag, target, log_path)
    try:
        trade = _trade(tag)
        with EventProducer(desk) as producer:
            producer.produce(trade)
        consumer = Consumer(consumer_config(desk, f"test-sasl-check-{tag}"))
        consumer.assign([TopicPartition(target, 0, 0)])

        def worker_alive() -> None:
            assert worker.poll() is None, log_path.read_text()[-3000:]

        forwarded = _read_until(consumer, trade.event_id, 60, worker_alive)
        assert forwarded == trade, log_path.read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(30)
    worker_log = log_path.read_text()
    assert _logged_in(scram_broker) in worker_log
    _assert_not_in(_password(desk), [worker_log])


def test_aiokafka_fold_reads_the_topic(
    desk: Settings, scram_broker: ScramBroker, logs: pytest.LogCaptureFixture
) -> None:
    trade = _trade(uuid.uuid4().hex[:8])
    with EventProducer(desk) as producer:
        producer.produce(trade)
    seen: list[Event] = []
    fold = TopicFold(desk, "trades", lambda record: seen.append(decode_value(record.value)))

    async def fold_until_seen() -> None:
        task = asyncio.create_task(fold.run())
        try:
            while trade not in seen:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(asyncio.wait_for(fold_until_seen(), 30))
    assert fold.caught_up.is_set()
    assert _logged_in(scram_broker) in logs.text
    _assert_not_in(_password(desk), [logs.text])


def test_a_wrong_password_is_refused_at_once_with_the_reason(
    scram_broker: ScramBroker, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    right, wrong = scram_broker.user.password.get_secret_value(), f"wrong-{secrets.token_urlsafe(12)}"
    settings = scram_broker.settings(password=wrong)
    worker = _forwarder(scram_broker, uuid.uuid4().hex[:8], "unused", tmp_path / "worker.log", password=wrong)
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match=f"refused user '{scram_broker.user.name}'.*invalid credentials"):
        check_broker(settings, timeout_s=5)

    async def start_aiokafka() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap, request_timeout_ms=5000, **aiokafka_auth(settings)
        )
        try:
            await consumer.start()
        finally:
            await consumer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(asyncio.wait_for(start_aiokafka(), 15))
    assert time.monotonic() - started < 20  # refused, not retried until some distant timeout
    assert "SaslAuthenticationFailed" in logs.text
    try:
        assert worker.wait(60) != 0  # the faust worker gives up at its start
    finally:
        worker.kill()
    worker_log = (tmp_path / "worker.log").read_text()
    assert (
        "SaslAuthenticationFailed: Authentication failed during authentication due to invalid credentials" in worker_log
    )
    librdkafka = _librdkafka_lines(logs, capfd)
    assert "invalid credentials" in librdkafka
    broker_logs = [path.read_text(errors="replace") for path in scram_broker.logs]
    assert any("Failed authentication" in text for text in broker_logs)
    for secret in (right, wrong):
        _assert_not_in(secret, [logs.text, librdkafka, worker_log, *broker_logs])
