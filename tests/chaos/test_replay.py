"""Scenario 6 (docs/reliability.md): duplicate and out-of-order delivery of every lifecycle topic.

`otcdesk chaos replay` runs a seeded session to its end, then, with every stage still running,
publishes again the middle third of every partition of `rfq`, `quotes`, `trades`, `orders`,
`fills`, `settlements` and `recon`, shuffled across topics and partitions, waits until every
stage's group has consumed it, and compares: the same summary and deals, and not one event id
on the desk's topics that was not there before (no second quote, trade, order, fill, settlement
update or recon result). The session's tally dedups by event_id (tested on its own in
tests/unit/backoffice/test_simulate.py); the new-id count does not depend on it.
"""

from __future__ import annotations

import json
import subprocess
import uuid

from otcdesk.settings import Settings
from otcdesk.topics import delete_namespace
from tests.integration.desk import OTCDESK, env_of


def test_a_replayed_slice_of_every_topic_changes_nothing(stack: Settings) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    cmd = [
        *OTCDESK,
        "chaos",
        "replay",
        "--rfqs",
        "20",
        "--seed",
        "13",
        "--share",
        "0.34",
        "--startup",
        "12",
        "--timeout",
        "300",
        "--namespace",
        namespace,
        "--json",
    ]
    try:
        done = subprocess.run(cmd, env=env_of(stack), capture_output=True, text=True, timeout=420)
    finally:
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    assert done.stdout, f"chaos replay exited {done.returncode} without a verdict\n{done.stderr[-3000:]}"
    verdict = json.loads(done.stdout)
    before, after = verdict["before"], verdict["after"]
    assert verdict["replayed"] >= 20 and after["complete"]
    assert before["deals"] > 0 and before["answered"] == before["rfqs"]
    desk_topics = ("quotes", "trades", "orders", "fills", "settlements", "recon")
    assert {t: verdict["new_ids"][t] for t in desk_topics} == {t: 0 for t in desk_topics}
    assert verdict["changed"] == []  # every figure and every deal's line; dead letters apart:
    # a replayed record that was refused is refused again, with a dead letter of its own offset
    assert {k: v for k, v in after.items() if k in before and k not in ("dead_letters", "digest")} == {
        k: v for k, v in before.items() if k not in ("dead_letters", "digest")
    }
    assert verdict["same"] and done.returncode == 0
