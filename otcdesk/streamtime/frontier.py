"""How far each input of a stage is complete: the producers' watermarks, applied once read.

A producer publishes `WatermarkAdvanced(ts_us=W, positions=...)` after every record it made with
an event time before W was delivered; `positions` says where its records end on each partition.
A stage applies W to an input only once it has read that input up to those positions, so a
watermark can never overtake the records it covers, whatever order the broker hands the two
topics over in. A producer's watermark never goes back here (a restarted producer may publish an
older one while it replays its history).

Reactive producers. The hedger and the venue simulator answer each other: the hedger's orders are
the venue's only input, and the venue's fills and reports re-route the hedger's quantity. Taken
plainly, each one's watermark would be bounded by the other's plus the venue's latency, and the
pair would creep forward by one latency per round trip (the null-message problem of conservative
simulation). So the venue also says what it holds (`next_us`: its earliest pending output) and
how far it has read the hedger (`input_us`); the hedger, which knows every order it sent since and
when the simulated venue answers each one (`Reactive.answer_us`: a seeded latency, a function of
the order), takes the venue's true bound: its pending outputs, or the answer to an order it has
not read yet. One order then costs one watermark round trip, not two.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from otcdesk.events import TopicPosition, WatermarkAdvanced
from otcdesk.streamtime import BEFORE_ALL_US, END_US, plus


@dataclass(frozen=True, slots=True)
class Reactive:
    """The producers of an input only answer this stage's own records on `requests_topic` (Kafka
    name): `answer_us(record)` is the event time of the earliest answer to a record, None for a
    record that gets none; no answer comes sooner than `lookahead_us` after a request."""

    requests_topic: str
    answer_us: Callable[[Any], int | None]
    lookahead_us: int


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of a stage.

    - `topic`: the Kafka topic name (namespace included);
    - `waits_for`: the producers whose watermarks bound this input (a stage never waits for
      itself: its own records on a topic it also reads come back late and change nothing);
    - `rank`: order among items of the same event time (records of lower rank first; a stage's
      timers have ranks of their own);
    - `trigger`: records may cause outputs (else they only update state, like books);
    - `lookahead_us`: a record at t touches nothing (state or output) before t + lookahead;
    - `reactive`: see the module docstring.
    """

    topic: str
    waits_for: tuple[str, ...]
    rank: int
    trigger: bool = True
    lookahead_us: int = 0
    reactive: Reactive | None = None


class _View:
    """What one input knows of one producer."""

    __slots__ = ("input_us", "next_us", "pending", "wm_us")

    def __init__(self) -> None:
        self.wm_us = BEFORE_ALL_US
        self.next_us: int | None = None
        self.input_us: int | None = None
        self.pending: deque[tuple[int, int | None, int | None, tuple[TopicPosition, ...]]] = deque()


class Frontier:
    """Read positions and applied producer watermarks of every input of one stage."""

    def __init__(self, inputs: Sequence[InputSpec]) -> None:
        self.inputs = tuple(inputs)
        self._read: list[dict[int, int]] = [{} for _ in self.inputs]  # partition -> next offset to read
        self._views: list[dict[str, _View]] = [{p: _View() for p in spec.waits_for} for spec in self.inputs]
        self._by_producer: dict[str, list[int]] = {}
        for index, spec in enumerate(self.inputs):
            for producer in spec.waits_for:
                self._by_producer.setdefault(producer, []).append(index)
        #: (event time, answer time) of this stage's own records on each reactive input's requests topic
        self._requests: dict[str, list[tuple[int, int]]] = {
            s.reactive.requests_topic: [] for s in self.inputs if s.reactive
        }
        self._answers = {s.reactive.requests_topic: s.reactive.answer_us for s in self.inputs if s.reactive}
        self.version = 0  # moves whenever a watermark may have moved

    @property
    def producers(self) -> frozenset[str]:
        """Every producer some input waits for."""
        return frozenset(self._by_producer)

    def read(self, index: int, partition: int, offset: int) -> None:
        """The stage has taken the record at `offset` of `partition` of input `index`."""
        positions = self._read[index]
        if offset >= positions.get(partition, 0):
            positions[partition] = offset + 1
            for view in self._views[index].values():
                if view.pending:
                    self._apply(index, view)

    def heard(self, mark: WatermarkAdvanced) -> None:
        """A producer's watermark record (any producer: the others are ignored)."""
        for index in self._by_producer.get(mark.source, ()):
            topic = self.inputs[index].topic
            view = self._views[index][mark.source]
            view.pending.append(
                (mark.ts_us, mark.next_us, mark.input_us, tuple(p for p in mark.positions if p.topic == topic))
            )
            self._apply(index, view)

    def _apply(self, index: int, view: _View) -> None:
        read = self._read[index]
        while view.pending:
            wm_us, next_us, input_us, positions = view.pending[0]
            if any(read.get(p.partition, 0) < p.next_offset for p in positions):
                return
            view.pending.popleft()
            if wm_us >= view.wm_us:
                view.wm_us, view.next_us, view.input_us = wm_us, next_us, input_us
                self.version += 1

    def sent(self, topic: str, record: Any) -> None:
        """This stage sent `record` (an event) on `topic`: reactive inputs count their requests."""
        answer = self._answers.get(topic)
        if answer is None:
            return
        answer_us = answer(record)
        if answer_us is not None:
            bisect.insort(self._requests[topic], (record.ts_us, answer_us))
            self.version += 1

    def watermark(self, index: int, own_us: int | None = None) -> int:
        """The input's watermark: no record of it with an earlier event time is still to come.

        For a reactive input, `own_us` is this stage's own output watermark (the earliest request
        it may still send); None leaves that term out, which is how the stage computes `own_us`
        itself (its own future requests cannot bound it below itself)."""
        spec, views = self.inputs[index], self._views[index]
        if not views:
            return END_US
        if spec.reactive is None:
            return min(v.wm_us for v in views.values())
        return min(self._answers_bound(spec.reactive, v, own_us) for v in views.values())

    def _answers_bound(self, reactive: Reactive, view: _View, own_us: int | None) -> int:
        bound = END_US if view.next_us is None else view.next_us
        requests = self._requests[reactive.requests_topic]
        seen_us = BEFORE_ALL_US if view.input_us is None else view.input_us
        unseen = bisect.bisect_left(requests, (seen_us, BEFORE_ALL_US))
        for _, answer_us in requests[unseen:]:  # requests the producer had not read: answers to come
            bound = min(bound, answer_us)
        if own_us is not None:  # a request still to be sent, at own_us or later
            bound = min(bound, plus(own_us, reactive.lookahead_us))
        return max(view.wm_us, bound)

    def prune(self) -> None:
        """Forget requests every reactive producer has read (memory stays bounded)."""
        for topic, requests in self._requests.items():
            seen = [
                v.input_us
                for i, s in enumerate(self.inputs)
                if s.reactive and s.reactive.requests_topic == topic
                for v in self._views[i].values()
            ]
            if seen and None not in seen:
                del requests[: bisect.bisect_left(requests, (min(s for s in seen if s is not None), BEFORE_ALL_US))]

    def input_us(self) -> int:
        """The smallest watermark of the inputs that cause output (what a `WatermarkAdvanced`
        reports as `input_us`); END when there are none."""
        marks = [self.watermark(i) for i, s in enumerate(self.inputs) if s.trigger]
        return min(marks, default=END_US)
