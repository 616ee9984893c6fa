"""`otcdesk web`'s first view over a history of 10,000 deals.

The history is generated on the server (`otcdesk db generate`, 4 fills a deal) into a scratch
database; `otcdesk web --database` runs as its own process (a fresh namespace: its Kafka consumer
finds no topics and its lag sampling no groups, so only the history counts). Figures:

- history load: the blotter report of the newest `web.history_deals` deals (what the page's
  process reads from ClickHouse when it starts), in-process, wall ms;
- first view: what a browser's first visit fetches, one new connection each: the page, its
  script and style sheet, and the snapshot of the blotter (`/api/state`, the same JSON the
  event stream opens with), once the history is in; wall ms to the last byte. Target: under 1 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from bench.core import BenchContext, Figure, Target, interleaved
from otcdesk.analytics import reports
from otcdesk.analytics.request import run_report
from otcdesk.db.generate import FILLS_PER_DEAL, generate
from otcdesk.settings import Settings

TARGET_FIRST_VIEW_MS = Target("value<=", 1000.0)
FIRST_VIEW = ("/", "/static/app.js", "/static/style.css", "/api/state")
START_TIMEOUT_S = 120.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read()


def _first_view(base: str) -> float:
    started = time.perf_counter()
    for path in FIRST_VIEW:
        _get(base + path)
    return (time.perf_counter() - started) * 1000


def _wait_for_history(base: str, proc: subprocess.Popen[bytes]) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"otcdesk web exited with {proc.returncode}")
        try:
            state = json.loads(_get(base + "/api/state"))
            if "from ClickHouse" in str(state["status"].get("history")):
                return state
            if str(state["status"].get("history")).startswith("not loaded"):
                raise RuntimeError(state["status"]["history"])
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the history was not loaded within {START_TIMEOUT_S:g} s")


def run(ctx: BenchContext) -> list[Figure]:
    deals = ctx.size(10_000, 500)
    shown = ctx.settings.web.history_deals
    advance = ctx.task(f"web: first view over {deals} deals", 2 * ctx.repeats + 1)
    with ctx.scratch_database("web") as (runner, db):
        generate(
            runner,
            db,
            deals * FILLS_PER_DEAL,
            reports.REPORTS["recon_breaks"].params(ctx.settings, reports.ReportOptions()),
            ctx.seed,
        )
        advance(1)
        blotter, options = reports.get("blotter"), reports.ReportOptions(limit=shown)

        def history_ms() -> float:
            started = time.perf_counter()
            run_report(ctx.settings, blotter, options, db)
            advance(1)
            return (time.perf_counter() - started) * 1000

        port = _free_port()
        settings: Settings = ctx.namespace("web")
        env = {"OTCDESK_NAMESPACE": settings.namespace, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "otcdesk.cli.main", "web", "--port", str(port), "--database", db],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            state = _wait_for_history(base, proc)

            def view_ms() -> float:
                took = _first_view(base)
                advance(1)
                return took

            history, view = interleaved(ctx.repeats, history_ms, view_ms)
        finally:
            proc.terminate()
            proc.wait(30)
    snapshot = len(json.dumps(state, separators=(",", ":")))
    return [
        Figure(
            "web",
            f"history load ({shown} newest of {deals} deals)",
            "ms",
            tuple(history),
            note="the blotter report the page's process runs at start (ClickHouse 18.16)",
        ),
        Figure(
            "web",
            f"first view ({deals} deals in the history)",
            "ms",
            tuple(view),
            target=TARGET_FIRST_VIEW_MS,
            note=f"page, script, style sheet and the blotter snapshot of {len(state['deals'])} deals "
            f"({snapshot} bytes), each on a new connection",
            extra={"deals_shown": len(state["deals"]), "snapshot_bytes": snapshot},
        ),
    ]
