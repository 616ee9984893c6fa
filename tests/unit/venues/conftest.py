"""Shared fixtures: a fresh loopback fixture server per test, so request logs never mix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otcdesk.venues.fixtures_server import FixtureServer


@pytest.fixture()
def fixture_server() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        yield server
