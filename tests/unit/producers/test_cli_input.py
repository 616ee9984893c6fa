"""Bad input at the feed and load commands: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

#: CPU only (subprocesses with a 60 s timeout at most): make test runs it in the background phase.
pytestmark = pytest.mark.background

OTCDESK = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "otcdesk"


@pytest.mark.parametrize(
    "args, says",
    [
        (["feed", "run", "--source", "nope"], "--source must be one of sim, ccxt, replay"),
        (["feed", "run", "--speed", "0"], "--speed must be a positive number"),
        (["feed", "run", "--source", "replay"], "needs --file"),
        (["rfq", "load", "--rate", "-1"], "--rate must be a positive number"),
        (["rfq", "load", "--duration", "0"], "--duration must be a positive number"),
        (["rfq", "load", "--clients", "NOPE"], "unknown client(s) NOPE"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args: list[str], says: str) -> None:
    done = subprocess.run([str(OTCDESK), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
