"""Supervise the desk's processes: start them, restart a crashed one with backoff, stop them all.

`otcdesk run all` starts the feed, the stages and (optionally) the ClickHouse sink as `otcdesk ...`
child processes: the stages one process each or several per process (`streams.LAYOUTS`), each
stage its own consumer group member. They share one simulation session through the environment,
so they share one desk clock: `OTCDESK_SIM_START_US`, `OTCDESK_SIM_ANCHOR_WALL_US`, `OTCDESK_SIM_SPEED` and the seed.

A child that exits on its own is restarted after a backoff that doubles per consecutive crash
(1 s, 2 s, 4 s ... capped) and resets once the child has stayed up for a while; Ctrl-C or
SIGTERM stops every child with SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otcdesk.clock import wall_now_us
from otcdesk.metrics import RESTARTS

OTCDESK = (sys.executable, "-m", "otcdesk.cli.main")
#: set in every child: its supervisor's pid (see `die_with_supervisor`)
SUPERVISOR_PID_ENV = "OTCDESK_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_supervisor() -> None:
    """Called first thing in a supervised child: have it SIGTERMed when its supervisor dies.

    Children run in their own session (Ctrl-C in a terminal reaches the supervisor alone, which
    stops them in order), so nothing else stops them if the supervisor itself is killed: a
    timed-out test or a `kill -9` of `otcdesk run all` used to leave whole desks running.
    Done in the child rather than in a Popen preexec_fn (unsafe with threads in the parent);
    a supervisor already gone by then is caught by the parent-pid check. Linux only.
    """
    expected = os.environ.pop(SUPERVISOR_PID_ENV, None)  # not inherited further down
    if not expected or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(expected):
        sys.exit("otcdesk: the supervisor that started this process is gone")


@dataclass(frozen=True)
class Backoff:
    """Restart delay after `crashes` consecutive crashes."""

    first_s: float = 1.0
    cap_s: float = 30.0
    healthy_after_s: float = 30.0  # up this long: the next crash counts as the first again

    def delay_s(self, crashes: int) -> float:
        return min(self.cap_s, self.first_s * 2 ** max(crashes - 1, 0))


@dataclass
class Child:
    name: str
    args: tuple[str, ...]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    last_exit: int | None = None
    retired: bool = False  # stopped on purpose: not restarted
    finishes: bool = False  # exits 0 when its work is done (a session's feed): then not restarted
    stages: tuple[str, ...] = ()  # the desk stages it hosts (`streams.LAYOUTS`)
    metrics_port: int | None = None  # its /metrics port (`with_metrics_ports`), None: none

    @property
    def state(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            return "running"
        exit_code = self.proc.returncode if self.proc is not None and self.restart_at is None else self.last_exit
        if self.finishes and exit_code == 0:
            return "finished"  # its work is done (a session's feed), whether or not `tick` has seen it yet
        return "waiting" if self.restart_at is not None else "stopped"


def session_env(seed: int, speed: float, start_us: int | None = None, namespace: str = "") -> dict[str, str]:
    """Environment every process of one simulated session shares (one desk clock, one seed)."""
    now = wall_now_us()
    return {
        "OTCDESK_SEED": str(seed),
        "OTCDESK_SIM_SPEED": repr(float(speed)),
        "OTCDESK_SIM_START_US": str(start_us if start_us is not None else now),
        "OTCDESK_SIM_ANCHOR_WALL_US": str(now),
        "OTCDESK_NAMESPACE": namespace,
    }


@dataclass
class Supervisor:
    children: list[Child]
    env: Mapping[str, str]
    logs: Path
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    _stopping: bool = False

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            # the series exists at 0 from the start: increase() cannot see a series' first sample
            RESTARTS.labels(child.name)
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        log = open(self.logs / f"{child.name}.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
        child.proc = subprocess.Popen(
            [*OTCDESK, *child.args],
            env={**os.environ, **self.env, SUPERVISOR_PID_ENV: str(os.getpid())},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child holds its own descriptor
        child.started_at, child.restart_at = self.clock(), None

    def tick(self) -> list[str]:
        """Restart what crashed (after its backoff); returns what happened, for the log."""
        events = []
        now = self.clock()
        for child in self.children:
            if child.retired:
                continue
            if child.proc is not None and child.proc.poll() is not None and child.restart_at is None:
                child.last_exit = child.proc.returncode
                if child.finishes and child.last_exit == 0:
                    child.retired = True
                    events.append(f"{child.name} finished")
                    continue
                if now - child.started_at >= self.backoff.healthy_after_s:
                    child.crashes_in_a_row = 0
                child.crashes_in_a_row += 1
                child.restart_at = now + self.backoff.delay_s(child.crashes_in_a_row)
                events.append(f"{child.name} exited with {child.last_exit}; restart in {child.restart_at - now:.0f} s")
            if child.restart_at is not None and now >= child.restart_at and not self._stopping:
                child.restarts += 1
                RESTARTS.labels(child.name).inc()
                self._spawn(child)
                events.append(f"{child.name} restarted (restart #{child.restarts})")
        return events

    def kill(self, name: str) -> None:
        """kill -9 a child, as a crash would (chaos tests), and reap it: once this returns it is
        gone (not still answering `poll()`); `tick` restarts it after its backoff."""
        for child in self.children:
            if child.name == name and child.proc is not None and child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()

    def retire(self, name: str, grace_s: float = 20.0) -> None:
        """Stop one child for good (SIGTERM, then SIGKILL after `grace_s`); it is not restarted."""
        for child in self.children:
            if child.name == name:
                child.retired = True
                if child.proc is not None:
                    terminate([child.proc], grace_s)

    def stop(self, grace_s: float = 20.0) -> None:
        self._stopping = True
        terminate([c.proc for c in self.children if c.proc is not None], grace_s)


def terminate(procs: Sequence[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM to every running one at once, then SIGKILL to those still up `grace_s` later."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def with_metrics_ports(children: Sequence[Child], base_port: int) -> None:
    """Give child n (counting from 1, in order) /metrics on `base_port + n` (`--metrics-port`, which
    every desk command takes); `base_port` itself is the supervisor's. The same options give the
    same ports, a restarted child keeps its own, and two children never share one."""
    for n, child in enumerate(children, start=1):
        child.metrics_port = base_port + n
        child.args = (*child.args, "--metrics-port", str(base_port + n))


def desk_children(
    stages: Sequence[str],
    *,
    with_feed: bool,
    with_sink: bool,
    layout: str,
    feed_start: str = "now",
    feed_args: Sequence[str] = (),
) -> list[Child]:
    """The processes of a desk, its stages placed by `layout` (`streams.LAYOUTS`); the feed starts
    at `feed_start` (`now`: the desk clock's present, also after a restart; an epoch: a fixed,
    replayable start) with `feed_args` besides (a session's: its duration, its pacing); a feed
    with a duration finishes."""
    from streams import stage_processes

    children = []
    if with_feed:
        children.append(
            Child(
                "feed",
                ("feed", "run", "--source", "sim", "--start-us", feed_start, *feed_args),
                finishes="--duration" in feed_args,
            )
        )
    children += [
        Child(name, ("stage", "run", *hosted), stages=hosted)
        for name, hosted in stage_processes(layout, stages).items()
    ]
    if with_sink:
        children.append(Child("sink", ("sink", "run")))
    return children
