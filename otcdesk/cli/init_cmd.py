"""`otcdesk init`: topics and ClickHouse migrations, both idempotent (run at every start)."""

from __future__ import annotations

from otcdesk.cli.output import console
from otcdesk.db import client
from otcdesk.db.migrate import check_database_name, migrate
from otcdesk.settings import get_settings
from otcdesk.topics import create_topics


def init() -> None:
    """Create the nine topics and apply pending ClickHouse migrations."""
    settings = get_settings()
    topics = create_topics(settings)
    created = sorted(name for name, what in topics.items() if what == "created")
    console.print(f"topics: {len(topics)} present" + (f", created {', '.join(created)}" if created else ""))
    database = check_database_name(settings.clickhouse.database)
    runner = client.admin(settings)
    try:
        outcomes = migrate(runner, database)
    finally:
        runner.close()
    applied = [f"{o.version:04d}" for o in outcomes if o.status == "applied"]
    console.print(
        f"clickhouse: database {database}, {len(outcomes)} migrations"
        + (f", applied {', '.join(applied)}" if applied else ", none pending")
    )
