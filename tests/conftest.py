"""A marker every test directory shares, set from the fixtures a test uses.

`chdb`: the test runs SQL on an in-process ClickHouse (a `chdb` fixture). No server is needed,
but starting the engine and loading data costs seconds per module: these tests are most of
tests/unit's time. `make test-fast` leaves them out (`-m "not chdb"`); `make test-unit` and
`make test` run them.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chdb: runs SQL on chdb, the in-process ClickHouse (set from its fixture)")


def pytest_itemcollected(item: pytest.Item) -> None:
    if "chdb" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.chdb)
