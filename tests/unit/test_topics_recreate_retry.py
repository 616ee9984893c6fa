"""recreate_namespace repeats the creation while a deleted topic is still listed (otcdesk.topics).

A broker that answers metadata with a topic deleted a moment ago makes `create_topics` report it
as existing; the session would then start on a topic about to vanish. The loop is checked here with
the two calls it makes replaced: the real broker lists a deleted topic only for an instant."""

from __future__ import annotations

import pytest

from otcdesk import topics
from otcdesk.errors import TransientError
from otcdesk.settings import Settings


def test_creation_is_repeated_until_every_deleted_topic_was_created(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([{"ns-rfq": "exists", "ns-dlq": "created"}, {"ns-rfq": "exists"}, {"ns-rfq": "created"}])
    calls: list[str] = []
    monkeypatch.setattr(topics, "delete_namespace", lambda *a, **k: ["ns-rfq", "ns-dlq", "otcdesk-ns-changelog"])
    monkeypatch.setattr(topics, "create_topics", lambda *a, **k: calls.append("create") or next(answers))
    monkeypatch.setattr(topics.time, "sleep", lambda s: None)
    topics.recreate_namespace(Settings())
    assert calls == ["create"] * 3


def test_a_topic_still_listed_after_the_timeout_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics, "delete_namespace", lambda *a, **k: ["ns-rfq"])
    monkeypatch.setattr(topics, "create_topics", lambda *a, **k: {"ns-rfq": "exists"})
    with pytest.raises(TransientError, match="ns-rfq still listed"):
        topics.recreate_namespace(Settings(), timeout_s=0.2)
