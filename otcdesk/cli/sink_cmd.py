"""`otcdesk sink run`: the ClickHouse sink as a long-running service, or `--once` to drain and exit.

Logs go to stderr (rows/s and lag every `sink.report_every_s`); the `--once` summary goes to
stdout, as one line or as JSON with `--json`, so scripts (tests, bench) can read the figures.
SIGTERM and Ctrl-C store the pending batch and commit before exiting: a stop loses nothing.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import typer

from consumers.sink import Sink, SinkOptions
from otcdesk.cli.output import print_json
from otcdesk.cli.params import MAX_GROUP_LEN, METRICS_PORT_HELP, PORT, YEAR_S, identifier, number
from otcdesk.db.migrate import check_database_name
from otcdesk.kafka import check_broker, show_librdkafka_log
from otcdesk.settings import get_settings

app = typer.Typer(help="The ClickHouse sink: every topic into the event log.", no_args_is_help=True)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="Drain what is in the topics now, then exit."),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Stop after this long.", callback=number(ge=0.1, le=YEAR_S)
    ),
    group: str | None = typer.Option(
        None, "--group", help="Consumer group (default: otcdesk-<namespace>sink).", callback=identifier(MAX_GROUP_LEN)
    ),
    database: str | None = typer.Option(None, "--database", help="Target database (default: the URL's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help=METRICS_PORT_HELP + " Default: settings sink.metrics_port.", callback=PORT
    ),
) -> None:
    """Consume every topic, insert column-wise in batches, commit offsets only after ClickHouse acked."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    show_librdkafka_log()  # a service: its log is its output
    settings = get_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"sink": settings.sink.model_copy(update={"metrics_port": metrics_port})})
    options = SinkOptions(
        group_id=group or settings.group("sink"),
        database=check_database_name(database or settings.sink.database or settings.clickhouse.database),
        once=once,
        max_seconds=max_seconds,
    )
    check_broker(settings)  # one line, not a service waiting for a broker that is not there
    sink = Sink(settings, options)
    _stop_on_signals(sink)
    logging.getLogger("otcdesk.sink").info(
        "sink: group %s, %d topics -> %s, batches of %d rows / %d ms",
        options.group_id,
        len(settings.sink.topics),
        options.database,
        settings.sink.batch_max_rows,
        settings.sink.batch_max_ms,
    )
    summary = sink.run()
    if as_json:
        print_json(summary.as_json())
    else:
        print(summary.line(), flush=True)


def _stop_on_signals(sink: Sink) -> None:
    """First signal: finish the batch and commit; a second Ctrl-C interrupts for real."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("otcdesk.sink").info("signal %d: storing the pending batch, then exiting", signum)
        sink.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
