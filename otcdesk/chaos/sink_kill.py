"""Scenario 2: the ClickHouse sink killed -9 while a flow runs, first at the worst moment.

The sink's first start carries the fault hook of consumers/sink.py (`CRASH_HOOK_ENV`): it dies
right after ClickHouse acknowledged its first batch and before the offsets are committed, so that
batch is stored and will be read and stored again. Then it is restarted and killed -9 again at
seeded moments (share of the flow stored), wherever it happens to be. At the end every event on
the topic must be in ClickHouse once: FINAL count == distinct event_ids == events published.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from consumers.sink import CRASH_HOOK_ENV
from otcdesk.chaos.figures import Figures
from otcdesk.chaos.flow import (
    Proc,
    Publisher,
    drop_namespace,
    fresh_namespace,
    group_offsets,
    scratch_database,
    seeded_rfqs,
    sink_proc,
    stored,
    wait_until,
)
from otcdesk.db import client
from otcdesk.db.rows import table_of
from otcdesk.db.runner import DriverRunner
from otcdesk.errors import DeskError
from otcdesk.events import Rfq
from otcdesk.settings import Settings
from otcdesk.simulate import SIM_START_US

NAMESPACE = "chaos-sink-"
ASSIGNED = "otcdesk.sink: assigned "  # the sink's log line when the group gave it its partitions
#: Small batches age out fast: more inserts, so a kill lands between an insert and its commit more often.
SINK_ENV = {"OTCDESK_SINK__BATCH_MAX_MS": "300", "OTCDESK_SINK__REPORT_EVERY_S": "5"}


def run(
    settings: Settings,
    *,
    events: int = 5000,
    kills: int = 2,
    rate_per_s: float = 100.0,
    seed: int = 7,
    namespace: str = NAMESPACE,
    logs: Path | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float = 300.0,
) -> Figures:
    scoped = fresh_namespace(settings, namespace)
    database = namespace.rstrip("-").replace("-", "_").replace(".", "_")
    table = table_of(Rfq)
    ch = client.admin(settings)
    figures = Figures("sink-kill", faults=0, detail={"database": database})
    sink = sink_proc(
        scoped, scratch_database(ch, database), SINK_ENV, (logs or settings.state_dir / "chaos") / "sink.log"
    )
    rng = random.Random(seed)
    shares = sorted(rng.uniform(0.2, 0.8) for _ in range(kills))
    flow = seeded_rfqs(scoped, seed, events, SIM_START_US)
    publisher = Publisher(scoped, list(flow), rate_per_s)
    try:
        publisher.start()
        sink.start(**{CRASH_HOOK_ENV: "1"})
        if wait_until(lambda: not sink.running, timeout_s) is None or sink.exit_code != 137:
            raise DeskError(f"the sink did not die after its first insert (exit {sink.exit_code}):\n{sink.tail()}")
        figures.faults += 1
        figures.detail["stored_before_replay"] = stored(ch, database, table).distinct  # stored, never committed
        figures.recover_s.append(_restart_and_wait(sink, scoped, ch, database, table, publisher, timeout_s))
        say(f"sink died after its first insert, before its commit; stored again {figures.recover_s[-1]:.1f} s later")
        for share in shares:
            target = int(share * events)

            def reached(target: int = target) -> bool:
                return stored(ch, database, table).distinct >= target

            if wait_until(reached, timeout_s, 0.2) is None:
                raise DeskError(f"the sink did not reach {target} rows:\n{sink.tail()}")
            sink.kill()
            figures.faults += 1
            figures.recover_s.append(_restart_and_wait(sink, scoped, ch, database, table, publisher, timeout_s))
            say(f"kill -9 at {target} rows; storing again {figures.recover_s[-1]:.1f} s later")
        published = publisher.finish(timeout_s)
        drained = wait_until(lambda: stored(ch, database, table).distinct >= published, timeout_s)
        final = stored(ch, database, table)
        figures.processed = published
        figures.lost = published - final.distinct
        figures.duplicated = final.final - final.distinct
        figures.detail |= {
            "raw_rows": final.raw,
            "final_rows": final.final,
            "distinct_event_ids": final.distinct,
            "drained_s": None if drained is None else round(drained, 1),
            "sink_starts": sink.starts,
        }
        return figures
    finally:
        sink.stop()
        publisher.join(5)
        ch.execute(f"DROP DATABASE IF EXISTS {database}")
        ch.close()
        drop_namespace(scoped)


def _restart_and_wait(
    sink: Proc, scoped: Settings, ch: DriverRunner, database: str, table: str, publisher: Publisher, timeout_s: float
) -> float:
    """Restart the sink; seconds from the restart until the new process has its partitions (its
    own "assigned" log line) and has committed past the old one's last commit, or, when there is
    nothing left to commit, until everything published is stored. (A killed sink's last insert or
    commit may still complete on the server after the kill: those do not count.)"""
    group = scoped.group("sink")
    before, _ = group_offsets(scoped, group, Rfq.TOPIC)
    assigned = _assignments(sink)
    began = time.monotonic()
    sink.start()

    def moving() -> bool:
        if _assignments(sink) == assigned:
            return False
        committed, end = group_offsets(scoped, group, Rfq.TOPIC)
        done = not publisher.is_alive() and committed == end and stored(ch, database, table).distinct >= publisher.sent
        return committed > before or done

    if wait_until(moving, timeout_s, 0.2) is None:
        raise DeskError(f"the restarted sink stored nothing in {timeout_s:.0f}s:\n{sink.tail()}")
    return time.monotonic() - began


def _assignments(sink: Proc) -> int:
    try:
        return sink.log.read_text(errors="replace").count(ASSIGNED)
    except OSError:
        return 0
