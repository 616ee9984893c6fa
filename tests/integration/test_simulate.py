"""`otcdesk simulate` on the real stack: a seeded session twice, the same summary twice.

The whole desk runs as processes (feed, eight stages) in a namespace of this test, on a 600x
clock; each run wipes the namespace first. The RFQs are few (the session takes well under a
minute) but every stage takes part: quotes, trades, TWAP hedges over several venues with
injected venue faults, both settlement legs, reconciliation.
"""

from __future__ import annotations

import json
import subprocess
import uuid

from otcdesk.settings import Settings
from otcdesk.topics import delete_namespace
from tests.integration.desk import OTCDESK, env_of


def _simulate(settings: Settings, namespace: str) -> dict:
    cmd = [*OTCDESK, "simulate", "--rfqs", "25", "--speed", "600", "--seed", "11", "--rate", "0.05",
           "--startup", "12", "--timeout", "240", "--namespace", namespace, "--json"]
    done = subprocess.run(cmd, env=env_of(settings), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"simulate exited {done.returncode}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def test_one_seed_twice_gives_the_same_session(stack: Settings) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    try:
        first, second = (_simulate(stack, namespace) for _ in range(2))
    finally:
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    # how long each took, and how long its clock waited for a slow starter, are the machine's
    wall = [(run.pop("wall_s"), run.pop("pauses_s")) for run in (first, second)]
    assert first == second, f"two runs of one seed differ (wall, pauses: {wall})"
    assert first["complete"] and first["answered"] == first["rfqs"] == 25
    assert first["deals"] > 0 and first["quotes"] >= first["deals"]
    assert first["recon"].get("PENDING", 0) == 0 and sum(first["recon"].values()) == first["deals"]
    assert first["breaks_without_fault"] == [], first
