"""Back office on the real stack: feed, hedger, venue-sim, settlement and recon as processes.

A "200 BTC BUY for ACME" TradeBooked is published directly (the front office is skipped): the
hedger works it as a TWAP over several venues, the venue simulator fills it, both settlement legs
reach SETTLED (the BTC after its confirmations) and recon reports the deal MATCHED.

All processes share one desk clock at 600x (`OTCDESK_SIM_*`): an hour of settlement takes six
seconds. The sim starts on a Monday 10:00 New York time so the USD wire of the quote leg is
credited the same (sim) day whatever the wall time of the run. At 600x, 5 s of sim time is 8 ms of
wall time, less than a Kafka round trip: the order and fill timeouts (sim time) are raised so an
order answered a few wall milliseconds "late" is not cancelled and re-routed (an over-hedge).

The back-office stages are not in `streams.STAGES` yet (the lead wires `otcdesk stage run`), so
each runs through its module's `build()` as `otcdesk stage run` would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from otcdesk.clock import wall_now_us
from otcdesk.events import (
    ExecType,
    Fill,
    HedgeOrder,
    PriceUpdate,
    ReconResult,
    ReconStatus,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
)
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from otcdesk.venue_sim import is_venue_report
from tests.integration.desk import OTCDESK, TopicReader, env_of, namespace, tails

pytestmark = pytest.mark.integration
STAGES = ("hedger", "venue-sim", "settlement", "recon")
SPEED = 600
SIM_START_US = 1_763_996_400_000_000  # Monday 2025-11-24 15:00 UTC, 10:00 in New York
REPO = Path(__file__).resolve().parents[2]


def _stage_command(name: str) -> list[str]:
    module = name.replace("-", "_")
    code = (
        f"import sys; from streams.{module} import build; stage = build(); "
        f"sys.argv = ['otcdesk-{name}', 'worker', '--without-web', '--loglevel', 'info']; stage.app.main()"
    )
    return [sys.executable, "-c", code]


@contextmanager
def _running(
    settings: Settings, commands: dict[str, list[str]], logs: Path, env: dict[str, str]
) -> Iterator[dict[str, subprocess.Popen]]:
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, cmd in commands.items():
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            procs[name] = subprocess.Popen(
                cmd, env=env_of(settings, **env), stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _best_ask(settings: Settings, symbol: str, alive: Callable[[], None]) -> Decimal:
    """The best ask of the newest book of `symbol` the feed has published."""
    prices = TopicReader(settings, ["prices"])
    try:
        prices.wait_for(lambda e: isinstance(e, PriceUpdate) and e.symbol == symbol and bool(e.asks), 60, alive)
        prices.poll(0.5)
        books = [e for e in prices.of(PriceUpdate) if e.symbol == symbol and e.asks]
        return max(books, key=lambda e: e.ts_us).asks[0].price_quote
    finally:
        prices.close()


def test_a_200_btc_buy_is_hedged_filled_settled_and_reconciled(stack: Settings, tmp_path: Path) -> None:
    anchor_us = wall_now_us()
    env = {
        "OTCDESK_SIM_SPEED": str(SPEED),
        "OTCDESK_SIM_START_US": str(SIM_START_US),
        "OTCDESK_SIM_ANCHOR_WALL_US": str(anchor_us),
        "OTCDESK_HEDGE__ORDER_TIMEOUT_MS": "3000000",
        "OTCDESK_RECON__FILL_TIMEOUT_S": "3000",
        # Two clips of 100 BTC: more than any one venue's participation cap, so each clip is split
        # over several venues (with many small clips the cheapest venue takes them all).
        "OTCDESK_HEDGE__MAX_CLIPS": "2",
        # The desk clock runs on while a starved stage waits for a core: one wall second is ten sim
        # minutes, and the sim BTC path moves tens of bps in that time. This test is about the wiring;
        # the price tolerance itself is covered by the recon unit tests.
        "OTCDESK_RECON__PRICE_TOLERANCE_BPS": "500",
    }
    with namespace(stack) as settings:
        sim = settings.model_copy(
            update={"sim_speed": SPEED, "sim_start_us": SIM_START_US, "sim_anchor_wall_us": anchor_us}
        )
        commands = {"feed": [*OTCDESK, "feed", "run", "--source", "sim", "--start-us", "now", "--speed", "1"]}
        # No --duration: paced on the desk clock (600x) the feed keeps up with it and would end an
        # hour of sim time in six wall seconds.
        commands |= {s: _stage_command(s) for s in STAGES}
        with _running(settings, commands, tmp_path, env) as procs:
            reader = TopicReader(settings, ["orders", "fills", "settlements", "recon", "dlq"])

            def alive() -> None:
                dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
                assert not dead, f"processes died: {dead}\n{tails(tmp_path)}"

            try:
                time.sleep(8)  # the stages join their groups and read the books
                now = sim.clock().now_us()
                qty, price = Decimal("200"), _best_ask(settings, "BTC/USD", alive)  # locked at the market
                trade = TradeBooked(
                    "bo-trade-1",
                    now,
                    "test",
                    "bo-rfq-1",
                    "bo-trade-1",
                    "bo-quote-1",
                    "ACME",
                    "BTC/USD",
                    Side.BUY,
                    qty,
                    price,
                    qty * price,
                    Decimal("0"),
                    price,
                )
                with EventProducer(settings) as producer:
                    producer.produce(trade)
                try:
                    result = reader.wait_for(
                        lambda e: (
                            isinstance(e, ReconResult) and e.rfq_id == trade.rfq_id and e.status is ReconStatus.MATCHED
                        ),
                        120,
                        alive,
                    )
                except AssertionError as exc:
                    others = [e for e in reader.of(ReconResult)]
                    raise AssertionError(f"{exc}; recon said {others}\n{tails(tmp_path)}") from None
            finally:
                reader.poll(1.0)
                reader.close()

    desk_orders = [o for o in reader.of(HedgeOrder) if o.rfq_id == trade.rfq_id and not is_venue_report(o)]
    assert len({o.venue for o in desk_orders}) >= 2, desk_orders  # routed over several venues
    assert all(o.side is Side.BUY and o.trade_id == trade.trade_id for o in desk_orders)
    fills = [f for f in reader.of(Fill) if f.rfq_id == trade.rfq_id and f.exec_type is ExecType.FILL]
    unique = {f.fill_id: f for f in fills}
    assert sum(f.qty_base for f in unique.values()) == qty == result.hedged_qty_base
    legs = {}
    for s in sorted((s for s in reader.of(SettlementUpdated) if s.trade_id == trade.trade_id), key=lambda s: s.ts_us):
        legs[s.leg] = s
    assert {leg: s.state for leg, s in legs.items()} == {
        SettlementLeg.BASE: SettlementState.SETTLED,
        SettlementLeg.QUOTE: SettlementState.SETTLED,
    }
    assert legs[SettlementLeg.BASE].confirmations == legs[SettlementLeg.BASE].confirmations_required >= 6
    assert (result.breaks, result.booked_qty_base) == ((), qty)
