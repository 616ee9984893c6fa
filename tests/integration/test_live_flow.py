"""The README's live flow on the real stack: `otcdesk run all --speed N` (feed, every stage and the
simulated clients, one desk clock paced N times the wall), and a person in another terminal:
`otcdesk rfq publish --follow` in ACME's name, then `otcdesk quote accept`.

ACME is also a simulated client, but the simulation answers only the RFQs it generated: the
person's quote waits for the person, who books the trade at any speed (a quote is valid for
`quote.ttl_ms` of wall time live). A second accept is answered on `quotes` with a typed
ALREADY_ACCEPTED, not dead-lettered. An RFQ another program publishes as raw Avro bytes, with its
own source and its own (wall) clock, is priced on the desk's clock and left to its sender too.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Producer

from otcdesk.clock import wall_now_us
from otcdesk.events import DeadLetter, Quote, QuoteRejected, QuoteResponse, RejectReason, Rfq, Side, TradeBooked
from otcdesk.kafka import producer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from tests.integration.desk import OTCDESK, TopicReader, env_of, namespace, processes, tails
from tests.ports import free_ports

pytestmark = pytest.mark.integration
#: Wall seconds a quote stays firm here: the CLI's start-up on a loaded 2-core machine takes a few.
TTL_MS = "20000"


def _cli(settings: Settings, *args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OTCDESK, *args],
        env=env_of(settings, OTCDESK_QUOTE__TTL_MS=TTL_MS),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _next_json(stream) -> dict:
    """The next JSON document of `--json` output (indented over several lines)."""
    text = ""
    while line := stream.readline():
        text += line
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue
    return {}


def _published_and_quoted(settings: Settings, logs) -> tuple[subprocess.Popen[str], dict]:
    """`rfq publish --follow --json` in the background (the person's first terminal) until its RFQ
    is quoted: while the desk starts, books arrive venue by venue and the first RFQs are refused."""
    for _ in range(20):
        follow = subprocess.Popen(
            [
                *OTCDESK,
                "rfq",
                "publish",
                "--client",
                "ACME",
                "--symbol",
                "BTC/USD",
                "--side",
                "buy",
                "--qty",
                "1",
                "--follow",
                "--timeout",
                "120",
                "--json",
            ],
            env=env_of(settings, OTCDESK_QUOTE__TTL_MS=TTL_MS),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None
        assert "rfq_id" in _next_json(follow.stdout)
        answer = _next_json(follow.stdout)
        if answer.get("event") == "Quote":
            return follow, answer
        follow.wait(30)
        assert answer.get("reason") in ("NO_FRESH_VENUE", "INSUFFICIENT_DEPTH"), (answer, tails(logs))
        time.sleep(3)
    raise AssertionError(f"never quoted\n{tails(logs)}")


@pytest.mark.parametrize("speed", ["1", "60"])
def test_a_person_books_a_trade_in_a_running_desk_at_any_speed(stack: Settings, tmp_path, speed: str) -> None:
    with (
        namespace(stack) as settings,
        processes(
            settings,
            {"desk": ["run", "all", "--speed", speed, "--seed", "7"]},
            tmp_path,
            OTCDESK_QUOTE__TTL_MS=TTL_MS,
            # /metrics of this desk's processes on ports no other test running beside it takes
            OTCDESK_METRICS__BASE_PORT=str(free_ports(8)),
        ) as procs,
    ):
        reader = TopicReader(settings, ["quotes", "trades", "dlq"])

        def alive() -> None:
            assert procs["desk"].poll() is None, tails(tmp_path)

        follow, quote = _published_and_quoted(settings, tmp_path)
        accepted = _cli(settings, "quote", "accept", quote["quote_id"], "--json")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr + tails(tmp_path)
        trade = json.loads(accepted.stdout)
        assert trade["quote_id"] == quote["quote_id"] and Decimal(str(trade["qty_base"])) == 1
        out, err = follow.communicate(timeout=60)
        assert follow.returncode == 0 and '"TradeBooked"' in out, out + err  # the first terminal sees it too

        again = _cli(settings, "quote", "accept", quote["quote_id"])
        assert again.returncode != 0 and "ALREADY_ACCEPTED" in again.stderr, again.stdout + again.stderr
        refusal = reader.wait_for(
            lambda e: (
                isinstance(e, QuoteRejected)
                and e.quote_id == quote["quote_id"]
                and e.reason is RejectReason.ALREADY_ACCEPTED
            ),
            60,
            alive,
        )
        assert refusal.rfq_id == quote["rfq_id"]

        # Another program: raw single-object Avro bytes, its own source, stamped by the wall clock.
        rfq = Rfq(
            str(uuid.uuid4()),
            wall_now_us(),
            "java-client",
            str(uuid.uuid4()),
            "ACME",
            "BTC/USD",
            Side.SELL,
            Decimal("1"),
            None,
            None,
        )
        producer = Producer(producer_config(settings))
        producer.produce(settings.topic("rfq"), key=rfq.rfq_id.encode(), value=default_serde().encode(rfq))
        assert producer.flush(30) == 0
        theirs = reader.wait_for(lambda e: isinstance(e, (Quote, QuoteRejected)) and e.rfq_id == rfq.rfq_id, 90, alive)
        assert isinstance(theirs, Quote), theirs
        time.sleep(5)  # far longer than any simulated client's answer at this speed
        reader.poll(1)
        by_sim = [
            e
            for _, e in reader.events
            if isinstance(e, QuoteResponse) and e.rfq_id in (rfq.rfq_id, quote["rfq_id"]) and e.source != "cli"
        ]
        assert by_sim == [], by_sim
        taken = _cli(settings, "quote", "accept", theirs.quote_id)
        assert taken.returncode == 0, taken.stdout + taken.stderr + tails(tmp_path)
        reader.wait_for(lambda e: isinstance(e, TradeBooked) and e.rfq_id == rfq.rfq_id, 60, alive)
        assert not [
            e
            for _, e in reader.events
            if isinstance(e, DeadLetter) and e.source_key in (rfq.rfq_id.encode(), quote["rfq_id"].encode())
        ]
        reader.close()
