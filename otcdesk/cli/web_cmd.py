"""`otcdesk web`: serve the desk's page (RFQ ticket, live blotter, lag, analytics; docs/web.md).

Listens on 127.0.0.1 unless `--host` says otherwise: the page publishes RFQs and accepts quotes
in any client's name, so a wider address needs authentication in front (a reverse proxy).
"""

from __future__ import annotations

import typer

from otcdesk.cli.output import console
from otcdesk.db.migrate import check_database_name
from otcdesk.settings import get_settings


def web(
    host: str = typer.Option(None, "--host", help="Address to listen on (default: settings web.host, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: settings web.port, 8700)."),
    history: int = typer.Option(
        None,
        "--history",
        min=0,
        max=100_000,
        help="Newest deals of the ClickHouse history the blotter starts with (0: none).",
    ),
    database: str = typer.Option(
        None, "--database", help="ClickHouse database of the history and the reports (default: the CLICKHOUSE_URL one)."
    ),
) -> None:
    """Serve the desk in a browser: RFQ ticket, live blotter, lag and analytics."""
    import uvicorn

    from otcdesk.web.app import create_app

    settings = get_settings()
    chosen = {"history_deals": history, "database": check_database_name(database) if database else None}
    changes = {k: v for k, v in chosen.items() if v is not None}
    if changes:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=changes)})
    host = host or settings.web.host
    port = port or settings.web.port
    console.print(f"otcdesk web on http://{host}:{port}/", highlight=False)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
