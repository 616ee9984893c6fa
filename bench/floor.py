"""The framework floor of a stage: a bare faust agent that decodes and re-encodes every event.

Same faust app settings as every desk stage (`streams.app.make_app`: delivery, commit interval,
session timeout), same topics (`OTCDESK_BENCH_FLOOR_TOPICS`, one agent each, like `Stage.agent`),
same Avro codec (events arrive typed), and each event encoded again and sent to one output topic
on the app's producer, as `streams.stage.Stage.produce` sends: what any stage costs before its
own work. A stage's events/s divided by this one's is the share
of the framework's throughput the stage keeps (bench/stages.py).

    OTCDESK_NAMESPACE=x- OTCDESK_BENCH_FLOOR_TOPICS=rfq python -m bench.floor
"""

from __future__ import annotations

import os
import sys

import faust

from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from streams.app import make_app

OUT = "bench-floor-out"  # bench.stagerun.FLOOR_OUT (not imported: this process stays small)


def build(settings: Settings, sources: list[str]) -> faust.App:
    app = make_app("floor", settings)
    out = settings.topic(OUT)
    serde = default_serde()
    for source in sources:
        topic = app.topic(settings.topic(source), key_type=bytes, value_type=None, allow_empty=True)

        async def forward(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await app.producer.send(out, event.key, serde.encode(event.value), None, None, None)

        forward.__name__ = f"floor_{source}".replace("-", "_")
        app.agent(topic, name=forward.__name__)(forward)
    return app


if __name__ == "__main__":
    app = build(Settings(), os.environ["OTCDESK_BENCH_FLOOR_TOPICS"].split(","))
    sys.argv = ["otcdesk-floor", "worker", "--without-web", "--loglevel", "warn"]
    app.main()
