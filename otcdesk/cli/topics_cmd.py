"""`otcdesk topics create | list`."""

from __future__ import annotations

import typer

from otcdesk.cli.output import console, emit
from otcdesk.kafka import check_broker
from otcdesk.settings import get_settings
from otcdesk.topics import create_topics, describe_topics, topic_specs

app = typer.Typer(help="The desk's Kafka topics.", no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create the nine topics (idempotent); lifecycle topics share one partition count."""
    settings = get_settings()
    outcome = create_topics(settings)
    specs = {s.name: s for s in topic_specs(settings)}
    for name, what in outcome.items():
        spec = specs[name]
        console.print(f"{name:<12} {what:<8} partitions={spec.partitions} retention.ms={spec.retention_ms}")


@app.command("list")
def list_topics(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Partitions and end offsets of each topic."""
    settings = get_settings()
    check_broker(settings)  # one line naming the fix when Kafka does not answer
    states = describe_topics(settings)
    rows = [(s.name, s.partitions, s.messages, list(s.end_offsets)) for s in states]
    emit("Topics", ["topic", "partitions", "messages", "end_offsets"], rows, as_json)
