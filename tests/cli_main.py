"""Run the console script's code path (`otcdesk.cli.main.main()`) in-process, for CLI tests.

In-process rather than as a subprocess: hypothesis draws hundreds of command lines, and some
arguments (a 200,000-term query) are longer than one command-line argument may be.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from unittest import mock

from typer.testing import CliRunner

from otcdesk.cli import main as cli
from otcdesk.settings import get_settings


def run_main(args: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `otcdesk ARGS`, settings read afresh from `env`."""
    get_settings.cache_clear()
    with (
        CliRunner().isolation(env=dict(env) if env is not None else None) as (out, err, _),
        mock.patch.object(sys, "argv", ["otcdesk", *args]),
        mock.patch.object(cli._err, "_width", 10_000),
    ):  # one message = one line, not wrapped at 80
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            get_settings.cache_clear()
        return code, out.getvalue().decode(), err.getvalue().decode()
