"""A supervised child dies with its supervisor, even when the supervisor is killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from otcdesk.supervisor import SUPERVISOR_PID_ENV

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")

# The supervisor stand-in starts one child the way Supervisor._spawn does (own session, its pid in
# the environment); the child calls die_with_supervisor() first, as otcdesk.cli.main does.
PARENT = f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time; from otcdesk.supervisor import die_with_supervisor; die_with_supervisor(); time.sleep(60)"],
    env={{**os.environ, "{SUPERVISOR_PID_ENV}": str(os.getpid())}}, start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_child_is_terminated_when_its_supervisor_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # the child has imported otcdesk and armed the signal
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(child)
    if alive:
        os.kill(child, 9)
    assert not alive, "the child outlived its supervisor"


def test_without_a_supervisor_nothing_changes() -> None:
    env = {k: v for k, v in os.environ.items() if k != SUPERVISOR_PID_ENV}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from otcdesk.supervisor import die_with_supervisor; die_with_supervisor(); print('ran')",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "ran"
