"""Scenario 4: ClickHouse stopped for `down_s` seconds while the sink has a flow to store.

On a throwaway ClickHouse server (the shared one stays up), the same binary and config as the
stack's. The sink must back off (pause, retry with capped backoff, commit nothing), stay alive,
let its lag grow while the flow goes on, and catch up once the server is back, same data dir and
ports: afterwards rows == events published, each once in the FINAL view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from otcdesk.chaos.figures import Figures
from otcdesk.chaos.flow import (
    Publisher,
    Stored,
    drop_namespace,
    fresh_namespace,
    group_lag,
    scratch_database,
    seeded_rfqs,
    sink_proc,
    stored,
    wait_until,
)
from otcdesk.db import client
from otcdesk.db.rows import table_of
from otcdesk.errors import DeskError
from otcdesk.events import Rfq
from otcdesk.settings import Settings
from otcdesk.simulate import SIM_START_US
from otcdesk.stack.throwaway import ThrowawayClickHouse

NAMESPACE = "chaos-chdown-"
DATABASE = "chaos_chdown"
#: Backoff capped at 2 s: the sink notices the server is back within 2 s of it.
SINK_ENV = {
    "OTCDESK_SINK__RETRY_INITIAL_S": "0.5",
    "OTCDESK_SINK__RETRY_MAX_S": "2",
    "OTCDESK_SINK__REPORT_EVERY_S": "5",
}
RETRY_LINE = "store failed, retry in"


def run(
    settings: Settings,
    home: Path,
    *,
    events: int = 3000,
    rate_per_s: float = 100.0,
    down_s: float = 30.0,
    seed: int = 7,
    namespace: str = NAMESPACE,
    say: Callable[[str], None] = print,
    timeout_s: float = 300.0,
) -> Figures:
    server = ThrowawayClickHouse(home / "clickhouse", settings)
    server.start()
    scoped = fresh_namespace(settings, namespace)
    table = table_of(Rfq)

    def count() -> Stored:
        runner = client.admin(server.settings())  # a fresh connection: the old one died with the server
        try:
            return stored(runner, DATABASE, table)
        finally:
            runner.close()

    admin = client.admin(server.settings())
    scratch_database(admin, DATABASE)
    admin.close()
    sink = sink_proc(scoped, DATABASE, server.env() | SINK_ENV, home / "sink.log")
    publisher = Publisher(scoped, list(seeded_rfqs(scoped, seed, events, SIM_START_US)), rate_per_s)
    figures = Figures("clickhouse-down", faults=1, detail={"down_s": down_s})
    group = scoped.group("sink")
    try:
        publisher.start()
        sink.start()
        # the fault once the sink stores and a quarter is out: the rest flows during the outage
        if wait_until(lambda: publisher.sent >= events // 4 and count().distinct > 0, timeout_s) is None:
            raise DeskError(f"the sink stored nothing before the fault:\n{sink.tail()}")
        server.stop()
        lag_at_stop = group_lag(scoped, group, Rfq.TOPIC)
        say(f"ClickHouse stopped (SIGTERM); sink lag {lag_at_stop}")
        time.sleep(down_s)
        if not sink.running:
            raise DeskError(f"the sink exited ({sink.exit_code}) while ClickHouse was down:\n{sink.tail()}")
        lag_before_restart = group_lag(scoped, group, Rfq.TOPIC)
        server.start()
        back = time.monotonic()
        say(f"ClickHouse back after {down_s:.0f} s; sink lag {lag_before_restart}")
        published = publisher.finish(timeout_s)
        caught_up = wait_until(
            lambda: count().distinct >= published and group_lag(scoped, group, Rfq.TOPIC) == 0, timeout_s
        )
        if caught_up is None:
            raise DeskError(f"the sink did not catch up within {timeout_s:.0f}s:\n{sink.tail()}")
        figures.recover_s.append(time.monotonic() - back)
        final = count()
        log = sink.log.read_text(errors="replace")
        figures.processed = published
        figures.lost = published - final.distinct
        figures.duplicated = final.final - final.distinct
        figures.detail |= {
            "lag_at_stop": lag_at_stop,
            "lag_before_restart": lag_before_restart,
            "retries_logged": log.count(RETRY_LINE),
            "sink_starts": sink.starts,
            "sink_alive": sink.running,
            "final_rows": final.final,
            "raw_rows": final.raw,
        }
        return figures
    finally:
        sink.stop()
        publisher.join(5)
        server.stop()
        drop_namespace(scoped)
