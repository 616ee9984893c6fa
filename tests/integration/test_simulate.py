"""`otcdesk simulate` on the real stack: a seeded session twice, the second with a CPU hog beside
it and the stages in the other process layout, and the same session both times.

The whole desk runs as processes (feed, eight stages) in a namespace of this test, on stream time
as fast as the CPUs allow; each run wipes the namespace first. The first run has one process per
stage, the second the front office and the back office one process each (`streams.LAYOUTS`), and
shares the machine with one busy loop per core for its whole length: a starved stage only takes
longer, it acts on the same instants, whatever process hosts it. The RFQs are few but every
stage takes part: quotes, trades, TWAP hedges over several venues with injected venue faults,
both settlement legs, reconciliation. The second run is checked by `--expect` against the first
one's JSON, which names the first deal line that differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from otcdesk.settings import Settings
from otcdesk.topics import delete_namespace
from tests.integration.desk import OTCDESK, env_of

HOG = "while True: pass"


def _simulate(settings: Settings, namespace: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        *OTCDESK,
        "simulate",
        "--rfqs",
        "25",
        "--seed",
        "11",
        "--rate",
        "0.05",
        "--timeout",
        "600",
        "--namespace",
        namespace,
        "--json",
        *extra,
    ]
    return subprocess.run(cmd, env=env_of(settings), capture_output=True, text=True, timeout=700)


@pytest.mark.exclusive  # its CPU hogs take every core: tests running beside it would be starved too
def test_one_seed_twice_the_second_time_starved_and_in_other_processes_gives_the_same_session(
    stack: Settings, tmp_path: Path
) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        done = _simulate(stack, namespace, "--layout", "per-stage")
        assert done.returncode == 0, f"simulate exited {done.returncode}\n{done.stderr[-3000:]}"
        first = json.loads(done.stdout)
        (tmp_path / "first.json").write_text(done.stdout)
        hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 2)]
        again = _simulate(stack, namespace, "--layout", "offices", "--expect", str(tmp_path / "first.json"))
        assert all(hog.poll() is None for hog in hogs)  # the hogs ran for the whole second session
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    # --expect names the first differing deal line on stderr when the sessions differ
    assert again.returncode == 0, f"simulate --expect exited {again.returncode}\n{again.stderr[-3000:]}"
    second = json.loads(again.stdout)
    run = ("wall_s", "killed", "restarts", "recover_s")
    assert {k: v for k, v in first.items() if k not in run} == {k: v for k, v in second.items() if k not in run}
    assert first["complete"] and first["answered"] == first["rfqs"] == 25
    assert first["deals"] > 0 and first["quotes"] >= first["deals"]
    assert first["recon"].get("PENDING", 0) == 0 and sum(first["recon"].values()) == first["deals"]
    assert first["breaks_without_fault"] == [], first


def test_expect_names_the_first_deal_line_that_differs(stack: Settings, tmp_path: Path) -> None:
    """Another seed is another session: --expect says where, and exits 1."""
    namespace = f"t{uuid.uuid4().hex[:8]}-"
    try:
        done = _simulate(stack, namespace, "--rfqs", "3")
        assert done.returncode == 0, done.stderr[-3000:]
        expected = json.loads(done.stdout)
        (tmp_path / "first.json").write_text(done.stdout)
        cmd = [
            *OTCDESK,
            "simulate",
            "--rfqs",
            "3",
            "--seed",
            "12",
            "--rate",
            "0.05",
            "--timeout",
            "600",
            "--namespace",
            namespace,
            "--expect",
            str(tmp_path / "first.json"),
        ]
        other = subprocess.run(cmd, env=env_of(stack), capture_output=True, text=True, timeout=700)
    finally:
        delete_namespace(stack.model_copy(update={"namespace": namespace}))
    assert other.returncode == 1
    assert "first differing deal line" in other.stderr and expected["deal_lines"][0].split()[0] in other.stderr
