"""Running one simulated session on the real stack: processes, the RFQ source, the topics read back.

The pure parts (what a session is, how its events add up) are in `otcdesk.simulate`; this module
does the I/O for `otcdesk simulate`: wipe and create the session's namespace, start the desk's
processes under the `Supervisor` (every one on stream time), publish the session's RFQs with
their watermarks (all at once at full speed, or each when a clock paced on the wall reaches it),
tail the lifecycle topics into a `SessionTally`, and follow every producer's watermark on the
`watermarks` topic. The session is over when every producer has ended its streams and the tail
has read every record they wrote.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from confluent_kafka import Consumer, TopicPartition

from otcdesk.client_sim import SESSION_RFQ_SOURCE
from otcdesk.clock import AnchoredClock, wall_now_us
from otcdesk.errors import UserError
from otcdesk.events import Rfq
from otcdesk.kafka import EventProducer, consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.simulate import SessionPlan, SessionTally
from otcdesk.streamtime import END_US
from otcdesk.streamtime.sources import SourceWatermarks, WatermarkBoard
from otcdesk.supervisor import Supervisor, desk_children
from otcdesk.topics import recreate_namespace
from otcdesk.venue_sim import FAULTS_HEADER

TAILED = ("quotes", "trades", "orders", "settlements", "recon", "dlq")
#: The producer name of the session's RFQs on the `watermarks` topic.
RFQ_SOURCE = SESSION_RFQ_SOURCE  # the producer name of its watermarks
#: Wall seconds between two watermarks of a paced RFQ source.
MARK_EVERY_S = 0.1


class SessionRunner:
    def __init__(
        self,
        settings: Settings,
        plan: SessionPlan,
        *,
        startup_s: float,
        with_sink: bool,
        kills: Sequence[tuple[str, float]] = (),
    ) -> None:
        from streams import STAGES

        self.plan = plan
        self.settings = settings.model_copy(update={"namespace": plan.namespace, "seed": plan.seed, "time": "stream"})
        self.stages = STAGES
        self.producers = ("feed", RFQ_SOURCE, *STAGES)
        self.rfqs: list[Rfq] = plan.schedule(self.settings)
        self.tally = SessionTally(frozenset(r.rfq_id for r in self.rfqs))
        paced = plan.speed is not None
        anchor_wall_us = wall_now_us() + int(startup_s * 1_000_000) if paced else None
        self.clock = AnchoredClock(plan.start_us, anchor_wall_us, plan.speed) if anchor_wall_us and plan.speed else None
        self.logs = settings.state_dir / "logs" / "simulate"
        feed_args = ("--duration", str(plan.feed_s(self.rfqs)), *(() if paced else ("--no-sleep",)))
        self.supervisor = Supervisor(
            desk_children(
                STAGES,
                with_feed=True,
                with_sink=with_sink,
                layout=self.settings.layout,
                feed_start=str(plan.start_us),
                feed_args=feed_args,
            ),
            plan.env(self.settings, anchor_wall_us),
            self.logs,
        )
        self.published = 0
        self.with_sink = with_sink
        # chaos: (process, share of the RFQs answered) at which it gets kill -9; the supervisor
        # restarts it like any crashed process
        self.kills = sorted(kills, key=lambda k: k[1])
        unknown = sorted({name for name, _ in kills} - {c.name for c in self.supervisor.children})
        if unknown:
            raise UserError(
                f"no process {', '.join(unknown)} in the {self.settings.layout} layout; processes: "
                f"{', '.join(c.name for c in self.supervisor.children)}"
            )
        self.killed: list[str] = []
        # killed, not back yet -> per producer it hosts, its watermark records heard when restarted
        self._down: dict[str, dict[str, int] | None] = {}
        self._hosts = {c.name: c.stages or (c.name,) for c in self.supervisor.children}
        self._killed_at: dict[str, float] = {}
        self.recover_s: list[float] = []  # per kill: wall seconds until the process published again
        self._producer: EventProducer | None = None
        self._marks: SourceWatermarks | None = None
        self._tail: Consumer | None = None
        self.board: WatermarkBoard | None = None
        self._read: dict[tuple[str, int], int] = {}  # tailed partition -> next offset
        self._marked_at = 0.0

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
        recreate_namespace(self.settings)

    def start(self) -> None:
        self.supervisor.start()
        self._producer = EventProducer(self.settings)
        self._marks = SourceWatermarks(self.settings, self._producer, RFQ_SOURCE)
        self.board = WatermarkBoard(self.settings)
        self._tail = Consumer(consumer_config(self.settings, "otcdesk.simulate-tail"))
        names = [self.settings.topic(t) for t in TAILED]
        meta = self._tail.list_topics(timeout=10).topics
        self._tail.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
        if self.clock is None:  # full speed: the whole RFQ stream at once
            self._publish_until(END_US)

    def _publish_until(self, now_us: int) -> None:
        assert self._producer is not None and self._marks is not None
        while self.published < len(self.rfqs) and self.rfqs[self.published].ts_us <= now_us:
            self._producer.produce(self.rfqs[self.published])
            self.published += 1
        if self.published == len(self.rfqs):
            self._marks.advance(END_US)  # not end(): a broker that is down must not stop the session
        elif time.monotonic() - self._marked_at >= MARK_EVERY_S:
            self._marks.advance(now_us + 1)
            self._marked_at = time.monotonic()

    def ready_stages(self) -> int:
        """Stages that have published a watermark (started, read their inputs back)."""
        return sum(1 for s in self.stages if self.board is not None and s in self.board.heard)

    def desk_time_us(self) -> int | None:
        """The watermark of the slowest stage still running (None before all have reached the
        session's first instant: a stage that has not read its inputs yet holds a sentinel)."""
        if self.board is None:
            return None
        marks = [self.board.wm(s) for s in self.stages]
        running = [m for m in marks if m != END_US]
        return min(running) if running and min(running) >= self.plan.start_us else None

    def step(self, poll_s: float = 0.2) -> list[str]:
        """Publish the RFQs due, kill what is due to be killed, read what the desk wrote; returns
        the supervisor's news."""
        assert self._tail is not None and self.board is not None
        if self.clock is not None and self.published < len(self.rfqs):
            self._publish_until(self.clock.now_us())
        assert self._marks is not None
        self._marks.catch_up()  # a watermark the broker could not take when it was due
        self._kill_due()
        serde = default_serde()
        orders = self.settings.topic("orders")
        deadline = time.monotonic() + poll_s
        while time.monotonic() < deadline:
            for msg in self._tail.consume(2000, 0.05):
                if msg.error() or msg.value() is None:
                    continue
                topic, partition, offset = position(msg)
                self._read[(topic, partition)] = offset + 1
                headers = cast("dict[str, bytes]", dict(msg.headers() or ()))  # a consumed header's value is bytes
                if topic == orders and FAULTS_HEADER not in headers:
                    continue  # of `orders`, the tally wants the venues' fault markers only
                try:
                    event = serde.decode(msg.value())
                except DecodeError:
                    continue  # bad bytes are the stages' business (they dead-letter them)
                self.tally.add(event, headers)
        self.board.poll()
        news = self.supervisor.tick()
        for name in self._down:
            if self._down[name] is None and any(line.startswith(f"{name} restarted") for line in news):
                self._down[name] = {p: self.board.heard.get(p, 0) for p in self._hosts[name]}
        return news

    def _kill_due(self) -> None:
        assert self.board is not None
        back = [
            n
            for n, counts in self._down.items()
            if counts is not None and all(self.board.heard.get(p, 0) > c for p, c in counts.items())
        ]
        for name in back:
            del self._down[name]
            self.recover_s.append(time.monotonic() - self._killed_at.pop(name))
        share = self.tally.answered / len(self.rfqs)
        while self.kills and share >= self.kills[0][1]:
            name, _ = self.kills[0]
            if name in self._down:
                break  # killed again once it is back: a restart is not cut short by the next kill
            self.kills.pop(0)
            self._down[name] = None
            self._killed_at[name] = time.monotonic()
            self.supervisor.kill(name)
            self.killed.append(name)

    @property
    def ended(self) -> bool:
        """Every producer ended its streams, the tail has read everything they wrote, and every
        killed process is back (a stage killed after its last watermark would otherwise end the
        session still down: its restart must be seen)."""
        if self.board is None or self._down or not self.board.ended(self.producers):
            return False
        tailed = {self.settings.topic(t) for t in TAILED}
        return all(
            self._read.get((p.topic, p.partition), 0) >= p.next_offset
            for mark in self.board.latest.values()
            for p in mark.positions
            if p.topic in tailed
        )

    def sink_lag(self) -> int | None:
        """Records the sink has not committed yet (None until it committed on every partition)."""
        from consumers.lag import LagMonitor

        (group,) = LagMonitor(self.settings).snapshot([self.settings.group("sink")])
        # a partition nothing was ever written to has no committed offset and nothing to wait for
        lags = [0 if p.lag is None and p.log_end_offset == 0 else p.lag for p in group.partitions]
        known = [lag for lag in lags if lag is not None]
        return None if not lags or len(known) < len(lags) else sum(known)

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.flush()
        if self._tail is not None:
            self._tail.close()
        if self.board is not None:
            self.board.close()
        self.supervisor.stop()
