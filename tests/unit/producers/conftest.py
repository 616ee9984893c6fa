"""Shared pieces: the venues' instruments through ccxt (as the feed loads them) and a fake wall."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from otcdesk.events import Venue
from otcdesk.instruments import Instrument
from otcdesk.venues.providers import offline_instruments


@pytest.fixture(scope="session")
def instruments() -> dict[tuple[Venue, str], Instrument]:
    return offline_instruments()


@dataclass
class FakeWall:
    """A monotonic wall in ns that only moves when something sleeps (or `work` is done)."""

    now_ns: int = 0
    sleeps_s: list[float] = field(default_factory=list)

    def wall_ns(self) -> int:
        return self.now_ns

    def wall_s(self) -> float:
        return self.now_ns / 1e9

    def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_ns += max(round(seconds * 1e9), 1)

    def work(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)
