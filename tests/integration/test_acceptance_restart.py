"""A quote survives a kill -9 of the acceptance stage (live, wall clock): the restarted worker
rebuilds it by reading `quotes` from offset 0 and books the client's acceptance once."""

from __future__ import annotations

import subprocess

import pytest

from otcdesk.events import Quote, TradeBooked
from otcdesk.settings import Settings
from tests.integration.desk import OTCDESK, TopicReader, env_of, namespace, processes, restart, tails
from tests.integration.test_front_office import _quote_for

pytestmark = pytest.mark.integration
TTL = {"OTCDESK_QUOTE__TTL_MS": "60000"}  # the quote must outlive the restart


def test_acceptance_restores_live_quotes_after_kill_9(stack: Settings, tmp_path) -> None:
    with namespace(stack) as base:
        settings = base.model_copy(update={"quote": base.quote.model_copy(update={"ttl_ms": 60000})})
        commands = {"feed": ["feed", "run", "--source", "sim", "--start-us", "now", "--duration", "600"]}
        commands |= {s: ["stage", "run", s, "-l", "info"] for s in ("aggregator", "quote-engine", "acceptance")}
        with processes(settings, commands, tmp_path, **TTL) as procs:
            reader = TopicReader(settings, ["rfq-priced", "quotes", "trades", "dlq"])

            def alive() -> None:
                dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
                assert not dead, f"processes died: {dead}\n{tails(tmp_path)}"

            quote: Quote = _quote_for(
                settings, reader, alive, client_id="ACME", symbol="BTC/USD", side="buy", qty_base="3"
            )
            reader.poll(3)  # the acceptance stage has stored it (changelog) by now
            restart(procs, "acceptance", settings, commands["acceptance"], tmp_path, **TTL)
            done = subprocess.run(
                [*OTCDESK, "quote", "accept", quote.quote_id, "--timeout", "60"],
                env=env_of(settings, **TTL),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr + tails(tmp_path)
            reader.poll(3)
            trades = [t for t in reader.of(TradeBooked) if t.quote_id == quote.quote_id]
            # Booked once: one trade. A redelivered acceptance (the restart's rebalance may hand it
            # over again before its offset was committed) re-sends that very trade, same event id,
            # which consumers drop; it never books a second one.
            assert trades and all(t == trades[0] for t in trades), trades
            assert trades[0].price_quote == quote.ask_price_quote
            reader.close()
