"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otcdesk.db.runner import ChdbRunner


@pytest.fixture(scope="module")
def chdb() -> Iterator[ChdbRunner]:
    """A current ClickHouse in-process (chdb), for SQL that must also run on a current server."""
    runner = ChdbRunner.in_memory()
    yield runner
    runner.close()
