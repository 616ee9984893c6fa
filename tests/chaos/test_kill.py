"""Scenario 1 (docs/reliability.md): kill -9 of every process in turn, mid-session, restarted by the supervisor.

`otcdesk chaos kill` runs a seeded session clean, then again with every stage process of the
default layout (with `desks`: pricing, dealing and the back office, up to four stages at a time) and
the feed killed with SIGKILL twice each, at moments drawn from the seed, and reads the faulted
session's topics back. It must be the same session (same summary, same digest: nothing lost,
nothing doubled) and the lifecycle invariants must hold on its topics: every RFQ one final outcome, no deal
booked twice, every trade hedged to its quantity or flagged by recon; no break on a deal whose
venue faults were not injected. Small (20 RFQs) so both sessions take a few minutes on 2 cores;
the RFQs arrive slowly (one every 500 sim s) so that the kills, at shares of the RFQs answered,
are spread over the session. Every process runs on stream time: a killed stage's consumers wait
for its watermark while it restarts, and nothing in the session depends on how long that takes.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter

import pytest

from otcdesk.chaos.session_faults import kill_schedule
from otcdesk.cli.chaos_cmd import restart_safe
from otcdesk.settings import Settings
from otcdesk.topics import delete_namespace
from streams import STAGES, stage_processes
from tests.integration.desk import OTCDESK, env_of


@pytest.mark.timeout(1500)  # two sessions of 20 RFQs and up to 18 restarts: 4-5 minutes idle on 2 cores
def test_every_process_killed_twice_gives_the_same_session(stack: Settings) -> None:
    processes = restart_safe(stack.layout)  # the default kills every process of the layout
    assert {s for name in processes for s in stage_processes(stack.layout).get(name, (name,))} == {*STAGES, "feed"}
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    cmd = [
        *OTCDESK,
        "chaos",
        "kill",
        "--rfqs",
        "20",
        "--rate",
        "0.002",
        "--seed",
        "11",
        "--rounds",
        "2",
        "--startup",
        "12",
        "--timeout",
        "600",
        "--namespace",
        namespace,
        "--json",
    ]
    try:
        done = subprocess.run(cmd, env=env_of(stack), capture_output=True, text=True, timeout=1400)
    finally:
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    assert done.stdout, f"chaos kill exited {done.returncode} without a verdict\n{done.stderr[-3000:]}"
    verdict = json.loads(done.stdout)
    clean, faulted = verdict["clean"], verdict["faulted"]
    assert sorted(faulted["killed"]) == sorted(2 * processes), faulted["killed"]
    assert verdict["invariants"]["hold"], verdict["invariants"]
    assert clean["complete"] and faulted["complete"]
    assert clean["deals"] > 0 and clean["answered"] == clean["rfqs"] == 20
    assert faulted["breaks_without_fault"] == []
    kills = 2 * len(processes)
    assert faulted["restarts"] >= kills and len(faulted["recover_s"]) == kills  # each killed process came back
    # the same session: every figure and deal line (dead letters by reason: session_differences)
    assert verdict["differences"] == [], (verdict["differences"], verdict["deals_differ"])
    run = ("wall_s", "killed", "restarts", "recover_s", "dead_letters", "digest")
    assert {k: v for k, v in faulted.items() if k not in run} == {k: v for k, v in clean.items() if k not in run}
    assert set(faulted["dead_letters"]) == set(clean["dead_letters"])
    assert verdict["same"] and done.returncode == 0


def test_the_kill_moments_are_a_function_of_the_seed() -> None:
    names = restart_safe("per-stage")
    kills = kill_schedule(names, 11, rounds=2)
    assert kills == kill_schedule(names, 11, rounds=2) != kill_schedule(names, 12, rounds=2)
    assert Counter(name for name, _ in kills) == {name: 2 for name in names}
    assert all(0.05 <= at <= 0.95 for _, at in kills) and kills == sorted(kills, key=lambda k: (k[1], k[0]))
