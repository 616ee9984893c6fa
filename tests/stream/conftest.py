"""Agents in faust's test_context: no broker; what a stage would send is recorded instead.

The stage's outputs are recorded at its topic objects (the one collaborator replaced), already
encoded by the stage with the Avro serde, so the assertions decode real wire bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from otcdesk.events import DeadLetter, Event
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from streams.stage import Stage


@dataclass
class Recorded:
    sent: list[tuple[str, bytes | None, Any, Any]] = field(default_factory=list)

    def events(self, topic: str | None = None) -> list[Event]:
        serde = default_serde()
        out = []
        for name, _, value, _ in self.sent:
            if topic is None or name == topic:
                out.append(value if isinstance(value, Event) else serde.decode(value))
        return out

    def dead_letters(self) -> list[DeadLetter]:
        return [e for e in self.events("dlq") if isinstance(e, DeadLetter)]


class _RecordingTopic:
    def __init__(self, name: str, recorded: Recorded) -> None:
        self.name, self.recorded = name, recorded

    async def send(self, key: bytes | None = None, value: Any = None, headers: Any = None) -> None:
        self.recorded.sent.append((self.name, key, value, headers))


def record(stage: Stage) -> Recorded:
    recorded = Recorded()
    stage.topic = lambda name: _RecordingTopic(name, recorded)
    return recorded


@pytest.fixture()
def settings() -> Settings:
    return Settings().model_copy(update={"namespace": "tc-"})


@pytest.fixture()
def stream_settings(settings: Settings) -> Settings:
    """A simulated session's settings: stream time."""
    return settings.model_copy(update={"time": "stream"})


def wire(event: Event) -> bytes:
    return default_serde().encode(event)
