"""Running one simulated session on the real stack: processes, RFQs on time, the topics read back.

The pure parts (what a session is, how its events add up) are in `otcdesk.simulate`; this module
does the I/O for `otcdesk simulate`: wipe and create the session's namespace, start the desk's
processes under the `Supervisor` on a clock anchored a little in the future (so every process is
up before sim time starts), publish each RFQ when the desk clock reaches its time, and tail the
lifecycle topics into a `SessionTally`. While the feed or a stage is down (killed, crashed) and
until it says it handles records again, the session's clock stands still (`otcdesk.pause`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import ConsumerGroupDescription

from otcdesk.clock import AnchoredClock, wall_now_us
from otcdesk.events import Rfq
from otcdesk.kafka import EventProducer, admin_client, consumer_config
from otcdesk.pause import PauseReader, SessionPause
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.simulate import SessionPlan, SessionTally
from otcdesk.supervisor import Supervisor, desk_children
from otcdesk.topics import create_topics, delete_namespace

TAILED = ("quotes", "trades", "orders", "settlements", "recon", "dlq")


class SessionRunner:
    def __init__(self, settings: Settings, plan: SessionPlan, *, startup_s: float, with_sink: bool,
                 kills: Sequence[tuple[str, float]] = ()) -> None:
        from streams import STAGES

        self.plan = plan
        self.settings = settings.model_copy(update={"namespace": plan.namespace, "seed": plan.seed})
        self.stages = STAGES
        # whose restart stops the clock: each says when it handles records again (the sink is not
        # one of them: what it stores never feeds back into the session)
        self.pausing = frozenset(("feed", *STAGES))
        self.rfqs: list[Rfq] = plan.schedule(self.settings)
        self.tally = SessionTally(frozenset(r.rfq_id for r in self.rfqs))
        self.anchor_wall_us = wall_now_us() + int(startup_s * 1_000_000)
        self.control_dir = settings.state_dir / "sessions" / plan.namespace
        control_dir = self.control_dir
        shutil.rmtree(control_dir, ignore_errors=True)  # an earlier session's pauses and pids
        self.pause = SessionPause(control_dir)
        self.clock = AnchoredClock(plan.start_us, self.anchor_wall_us, plan.speed, PauseReader(control_dir))
        self.logs = settings.state_dir / "logs" / "simulate"
        self.supervisor = Supervisor(
            desk_children(STAGES, with_feed=True, with_sink=with_sink, feed_start=str(plan.start_us)),
            plan.env(self.settings, self.anchor_wall_us) | {"OTCDESK_SIM_CONTROL_DIR": str(control_dir)}, self.logs)
        self.published = 0
        self.with_sink = with_sink
        # chaos: (process, share of the RFQs published) at which it gets kill -9; the supervisor
        # restarts it like any crashed process
        self.kills = sorted(kills, key=lambda k: k[1])
        self.killed: list[str] = []
        self._producer: EventProducer | None = None
        self._tail: Consumer | None = None
        self._admin = admin_client(self.settings)
        self._describing: dict[str, Future[ConsumerGroupDescription]] | None = None
        self._ready = 0

    @property
    def log_dir(self) -> Path:
        return self.logs

    @property
    def producer(self) -> EventProducer:
        """The session's producer (started): chaos publishes its replays with it."""
        assert self._producer is not None, "start() first"
        return self._producer

    def prepare(self) -> None:
        """An empty namespace: the session's topics and groups from any earlier run deleted."""
        delete_namespace(self.settings, wait_for_members=True)
        create_topics(self.settings)

    def start(self) -> None:
        self.supervisor.start()
        self._producer = EventProducer(self.settings)
        self._tail = Consumer(consumer_config(self.settings, "otcdesk.simulate-tail"))
        names = [self.settings.topic(t) for t in TAILED]
        meta = self._tail.list_topics(timeout=10).topics
        self._tail.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])

    def ready_stages(self) -> int:
        """How many stages' consumer groups are Stable with a member (joined, partitions assigned).

        Never blocks the publishing loop: a describe request is sent and its answer read on a
        later call (a group's coordinator may take seconds to answer while it loads).
        """
        if self._describing is None:
            groups = [self.settings.group(s) for s in self.stages]
            self._describing = self._admin.describe_consumer_groups(groups, request_timeout=10)
        elif all(f.done() for f in self._describing.values()):
            ready = 0
            for future in self._describing.values():
                try:
                    desc = future.result()
                except Exception:  # noqa: BLE001 - not there yet
                    continue
                ready += desc.state is ConsumerGroupState.STABLE and bool(desc.members)
            self._ready, self._describing = ready, None
        return self._ready

    def step(self, poll_s: float = 0.2) -> list[str]:
        """Publish the RFQs due on the desk clock, read what the desk wrote; returns supervisor news."""
        assert self._producer is not None and self._tail is not None
        now_us = self.clock.now_us()
        while self.published < len(self.rfqs) and self.rfqs[self.published].ts_us <= now_us:
            self._producer.produce(self.rfqs[self.published])
            self.published += 1
        while self.kills and self.published >= self.kills[0][1] * len(self.rfqs):
            name, _ = self.kills[0]
            if name in self.pause.down:
                break  # killed again once it is back: a restart is not cut short by the next kill
            self.kills.pop(0)
            self.pause.hold(name)
            self.supervisor.kill(name)
            self.killed.append(name)
        serde = default_serde()
        deadline = time.monotonic() + poll_s
        while time.monotonic() < deadline:
            for msg in self._tail.consume(2000, 0.05):
                if msg.error() or msg.value() is None:
                    continue
                try:
                    event = serde.decode(msg.value())
                except DecodeError:
                    continue  # bad bytes are the stages' business (they dead-letter them)
                self.tally.add(event, dict(msg.headers() or ()))
        news = self.supervisor.tick()
        self._hold_clock_while_down()
        return news

    def _hold_clock_while_down(self) -> None:
        """The clock runs only while every process is up and has said it is ready: it stands still
        from a process's exit until its new self says so, and, past the anchor, for a process that
        has not said so since it started (a slow start delays the session instead of changing it)."""
        started = wall_now_us() >= self.anchor_wall_us
        for child in self.supervisor.children:
            if child.name not in self.pausing:
                continue
            proc = child.proc
            ready = proc is not None and proc.poll() is None and self.pause.ready_pid(child.name) == proc.pid
            if ready:
                self.pause.release(child.name)
            elif started or proc is None or proc.poll() is not None:
                self.pause.hold(child.name)

    def sink_lag(self) -> int | None:
        """Records the sink has not committed yet (None until it committed on every partition)."""
        from consumers.lag import LagMonitor

        (group,) = LagMonitor(self.settings).snapshot([self.settings.group("sink")])
        # a partition nothing was ever written to has no committed offset and nothing to wait for
        lags = [0 if p.lag is None and p.log_end_offset == 0 else p.lag for p in group.partitions]
        return None if not lags or any(lag is None for lag in lags) else sum(lags)

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.flush()
        if self._tail is not None:
            self._tail.close()
        self.supervisor.stop()
        shutil.rmtree(self.control_dir, ignore_errors=True)  # the processes that read it are gone
