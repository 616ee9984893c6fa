"""The `stack` fixture: a running Kafka + ClickHouse for integration tests.

OTCDESK_STACK=local (default) starts the project's own stack (idempotent: a running one is reused
and left running); docker starts throwaway containers with testcontainers; external uses
KAFKA_BOOTSTRAP and CLICKHOUSE_URL. When the stack cannot be had, the tests fail under CI (with
what to install) and are skipped, with the same reason, elsewhere: never a silent skip on CI.
`scram_broker` is a second, throwaway broker that takes only SASL/SCRAM logins (test_sasl.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from otcdesk.db import client
from otcdesk.db.runner import DriverRunner
from otcdesk.errors import DeskError, StackError
from otcdesk.settings import Settings
from otcdesk.stack import ensure_up
from tests.integration.scram_broker import ScramBroker


def _unavailable(exc: StackError) -> None:
    tail = getattr(exc, "log_tail", [])
    message = f"stack not available: {exc}" + ("\n" + "\n".join(tail) if tail else "")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)  # only outside CI: under CI the line above fails the run


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    settings = Settings()
    if settings.stack == "docker":
        from otcdesk.stack.containers import docker_stack

        try:
            with docker_stack() as (bootstrap, url):
                yield settings.model_copy(update={"kafka_bootstrap": bootstrap, "clickhouse_url": url})
        except StackError as exc:
            _unavailable(exc)
        return
    try:
        ensure_up(settings)
    except StackError as exc:
        _unavailable(exc)
    yield settings


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramBroker]:
    """A throwaway broker that takes only SASL/SCRAM logins, stopped after the module whatever
    happened; it needs Java and the local stack's jars, not the local stack itself."""
    broker = ScramBroker(tmp_path_factory.mktemp("scram-broker"), Settings())
    try:
        try:
            broker.start()
        except StackError as exc:
            _unavailable(exc)
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def server(stack: Settings) -> Iterator[DriverRunner]:
    """The ClickHouse writer on the stack's server; unreachable is a failure, never a skip."""
    try:
        runner = client.admin(stack)
    except DeskError as exc:
        ci = " (CI is set: integration tests never skip)" if os.environ.get("CI") else ""
        pytest.fail(f"no usable ClickHouse for the integration tests{ci}: {exc}")
    assert runner.engine.startswith("ClickHouse 18.16") or not os.environ.get("CI"), runner.engine
    yield runner
    runner.close()
