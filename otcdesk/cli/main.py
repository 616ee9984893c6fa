"""Entry point of the `otcdesk` console script.

Each noun is a Typer sub-app in its own module; `main()` turns every `DeskError` (and the
usual suspects from bad input or an unreachable stack) into one red line and exit code 2.
Library logs stay off the terminal (librdkafka's above all) unless `otcdesk --verbose`.
"""

from __future__ import annotations

import logging
import sys
import unicodedata

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from otcdesk.errors import DeskError

app = typer.Typer(
    name="otcdesk",
    help="A crypto OTC desk on Kafka: RFQ -> quote -> trade -> hedge -> settle -> reconcile.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_err = Console(stderr=True)


@app.callback()
def root(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Also print the libraries' logs (librdkafka's connection attempts, retries) on stderr.",
    ),
) -> None:
    from otcdesk.kafka import log as kafka_log, show_librdkafka_log

    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        show_librdkafka_log()
    else:  # a failed delivery is the command's error line; a service that configures logging still logs it
        kafka_log.addHandler(logging.NullHandler())


def _error(text: str) -> None:
    """Not wrapped at the terminal's width; the text is printed as is, never read as markup, and a
    control character (an ESC sequence) shows as its escape, not its effect. Newlines stay: the
    desk's own messages are one line, a few chaos failures add the tail of a log."""
    shown = "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf") and c != "\n" else c for c in text)
    _err.print(f"[red]error:[/red] {escape(shown)}", highlight=False, soft_wrap=True)


def _register() -> None:
    # Imported here so one noun's import error names itself.
    from otcdesk.cli import (
        chaos_cmd,
        db_cmd,
        feed_cmd,
        init_cmd,
        lag_cmd,
        quote_cmd,
        report_cmd,
        rfq_cmd,
        run_cmd,
        schemas_cmd,
        simulate_cmd,
        sink_cmd,
        sql_cmd,
        stack_cmd,
        stage_cmd,
        summary_cmd,
        topics_cmd,
        web_cmd,
    )

    app.add_typer(stack_cmd.app, name="stack")
    app.command("init")(init_cmd.init)
    app.add_typer(topics_cmd.app, name="topics")
    app.add_typer(db_cmd.app, name="db")
    app.add_typer(schemas_cmd.app, name="schemas")
    app.add_typer(feed_cmd.app, name="feed")
    app.add_typer(stage_cmd.app, name="stage")
    app.add_typer(run_cmd.app, name="run")
    app.add_typer(rfq_cmd.app, name="rfq")
    app.add_typer(quote_cmd.app, name="quote")
    app.add_typer(sink_cmd.app, name="sink")
    app.command("lag")(lag_cmd.lag)
    app.command("summary")(summary_cmd.summary)
    app.command("simulate")(simulate_cmd.simulate)
    app.add_typer(chaos_cmd.app, name="chaos")
    app.command("report")(report_cmd.report)
    app.command("sql")(sql_cmd.sql)
    app.command("web")(web_cmd.web)


_register()


def main() -> None:
    from otcdesk.supervisor import die_with_supervisor

    die_with_supervisor()
    try:
        app()
    except DeskError as exc:
        _error(str(exc))
        sys.exit(2)
    except ValidationError as exc:  # OTCDESK_* settings: name the field and the rule, never the value
        what = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _error(f"invalid settings: {what}")
        sys.exit(2)
    except KeyboardInterrupt:
        _err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
