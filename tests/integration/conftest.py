"""The `stack` fixture: a running Kafka + ClickHouse for integration tests.

OTCDESK_STACK=local (default) starts the project's own stack (idempotent: a running one is reused
and left running); docker starts throwaway containers with testcontainers; external uses
KAFKA_BOOTSTRAP and CLICKHOUSE_URL. When the stack cannot be had, the tests fail under CI (with
what to install) and are skipped, with the same reason, elsewhere: never a silent skip on CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from otcdesk.errors import StackError
from otcdesk.settings import Settings
from otcdesk.stack import ensure_up


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
