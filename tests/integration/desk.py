"""Run desk stages as real processes in an isolated namespace of the shared broker.

Every test gets its own topic and consumer-group prefix (`OTCDESK_NAMESPACE`), so stages under
test see only that test's events; the topics and groups are deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from otcdesk.events import Event
from otcdesk.kafka import consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics, delete_namespace

OTCDESK = [sys.executable, "-m", "otcdesk.cli.main"]


@contextmanager
def namespace(stack: Settings) -> Iterator[Settings]:
    settings = stack.model_copy(update={"namespace": f"t{uuid.uuid4().hex[:8]}-"})
    create_topics(settings)
    try:
        yield settings
    finally:
        delete_namespace(settings)


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    return dict(os.environ, OTCDESK_NAMESPACE=settings.namespace, PYTHONUNBUFFERED="1", **extra)


@contextmanager
def processes(
    settings: Settings, commands: Mapping[str, Sequence[str]], logs: Path, **env: str
) -> Iterator[dict[str, subprocess.Popen]]:
    """Start `otcdesk <args>` per name; on exit stop them and, on failure, show their log tails."""
    running: dict[str, subprocess.Popen] = {}
    try:
        for name, args in commands.items():
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            running[name] = subprocess.Popen(
                [*OTCDESK, *args], env=env_of(settings, **env), stdout=log, stderr=subprocess.STDOUT
            )
        yield running
    finally:
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def restart(
    procs: dict[str, subprocess.Popen], name: str, settings: Settings, args: Sequence[str], logs: Path, **env: str
) -> None:
    """kill -9 one process and start it again (appending to its log)."""
    procs[name].kill()
    procs[name].wait(30)
    log = open(logs / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
    procs[name] = subprocess.Popen([*OTCDESK, *args], env=env_of(settings, **env), stdout=log, stderr=subprocess.STDOUT)


def tails(logs: Path, lines: int = 25) -> str:
    return "\n".join(
        f"== {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
        for p in sorted(logs.glob("*.log"))
    )


class TopicReader:
    """Reads decoded events of some desk topics from their beginning (no group commits)."""

    def __init__(self, settings: Settings, topics: Sequence[str]) -> None:
        self.consumer = Consumer(consumer_config(settings, f"test-reader-{uuid.uuid4().hex[:8]}"))
        names = [settings.topic(t) for t in topics]
        meta = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
        self.events: list[tuple[str, Event]] = []
        self.undecodable = 0

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        serde = default_serde()
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(1000, 0.1):
                if msg.error():
                    continue
                try:
                    self.events.append((position(msg)[0], serde.decode(msg.value())))
                except DecodeError:
                    self.undecodable += 1

    def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float, alive: Callable[[], None]) -> Event:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            alive()
            self.poll(0.3)
            for _, event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
        raise AssertionError(f"no matching event within {timeout_s}s ({len(self.events)} events read)")

    def of(self, kind: type) -> list:
        return [e for _, e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.consumer.close()
