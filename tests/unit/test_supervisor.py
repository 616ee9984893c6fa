"""The supervisor restarts a crashed process after a doubling backoff and stops everything."""

from __future__ import annotations

from pathlib import Path

from otcdesk.supervisor import Backoff, Child, Supervisor, session_env


def test_backoff_doubles_and_is_capped() -> None:
    backoff = Backoff(first_s=1, cap_s=10)
    assert [backoff.delay_s(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def test_session_env_pins_one_clock_for_every_process() -> None:
    env = session_env(seed=7, speed=600, start_us=1_764_000_000_000_000, namespace="x-")
    assert env["OTCDESK_SIM_START_US"] == "1764000000000000" and env["OTCDESK_SIM_SPEED"] == "600.0"
    assert env["OTCDESK_SEED"] == "7" and env["OTCDESK_NAMESPACE"] == "x-"
    assert int(env["OTCDESK_SIM_ANCHOR_WALL_US"]) > 1_700_000_000_000_000


def test_a_crashing_child_is_restarted_after_its_backoff_and_stop_ends_the_rest(tmp_path: Path) -> None:
    now = [0.0]
    crashing = Child("crasher", ("stage", "run", "no-such-stage"))  # exits 2 at once
    sup = Supervisor([crashing], {}, tmp_path, Backoff(first_s=5, cap_s=60), clock=lambda: now[0])
    sup.start()
    assert crashing.proc is not None
    crashing.proc.wait(60)
    events = sup.tick()
    assert crashing.last_exit == 2 and crashing.state == "waiting" and "restart in 5 s" in events[0]
    now[0] = 4.9
    assert sup.tick() == []  # not yet
    now[0] = 5.0
    assert sup.tick() == ["crasher restarted (restart #1)"]
    crashing.proc.wait(60)
    now[0] = 6.0
    assert "restart in 10 s" in sup.tick()[0]  # the second crash in a row waits twice as long
    sup.stop(grace_s=5)
    assert (tmp_path / "crasher.log").read_text().count("unknown stage") >= 2


def test_stop_terminates_running_children(tmp_path: Path) -> None:
    child = Child("server", ("stack", "status", "--json"))
    sup = Supervisor([child], {}, tmp_path)
    sup.start()
    sup.stop(grace_s=10)
    assert child.proc is not None and child.proc.poll() is not None


def test_a_retired_child_is_not_restarted(tmp_path: Path) -> None:
    now = [0.0]
    child = Child("quick", ("stage", "run", "no-such-stage"))  # exits 2 at once
    sup = Supervisor([child], {}, tmp_path, Backoff(first_s=1, cap_s=60), clock=lambda: now[0])
    sup.start()
    assert child.proc is not None
    child.proc.wait(60)
    sup.retire("quick")  # as `otcdesk simulate --sink` does with the feed before draining the sink
    now[0] = 1000.0
    assert sup.tick() == [] and child.restarts == 0 and child.retired
    sup.stop(grace_s=5)


def test_kill_schedules_parse_or_fail_in_one_line() -> None:
    import pytest

    from otcdesk.cli.simulate_cmd import parse_kills
    from otcdesk.errors import UserError

    assert parse_kills(["recon@0.5", "feed@1"]) == [("recon", 0.5), ("feed", 1.0)]
    for bad in ("recon", "recon@1.5", "nobody@0.5", "recon@x"):
        with pytest.raises(UserError):
            parse_kills([bad])


def test_a_finished_feed_is_finished_before_the_supervisor_has_ticked() -> None:
    """A session's feed that exited 0 is `finished` at once, not `stopped` until the next tick
    (a scenario judging the processes right then took it for a crash)."""
    import subprocess
    import sys

    child = Child("feed", (), finishes=True)
    child.proc = subprocess.Popen([sys.executable, "-c", "pass"])
    child.proc.wait()
    assert child.state == "finished"
    child.proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    child.proc.wait()
    assert child.state == "stopped"
