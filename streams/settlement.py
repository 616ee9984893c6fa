"""Settlement stage: booked trades -> both settlement legs, played out on `settlements` over sim time.

- `trades` -> `SettlementPlanner.plan` (`otcdesk.settlement`): the whole sequence of
  SettlementUpdated of both legs (screening, funding, mempool, confirmations, wire credit), each
  stamped with its sim time, from the trade's own time and `derived_rng(seed, "settle:<trade_id>")`.
  The sequence is a pure function of the trade, so replanning it gives the same events, ids included.
- a timer (every `TICK_S` wall seconds) sends every planned event whose sim time has come on the
  desk clock, in time order: the legs advance as time passes.

State: the trades being settled are kept in a faust Table co-partitioned with `trades` (changelog
backed). A restarted worker replans every trade of its table on its first tick and sends again the
events already due; they carry the same event ids, so consumers (recon, ClickHouse) dedup them.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from decimal import Decimal
import logging
from typing import Any

from otcdesk.errors import RejectedError
from otcdesk.events import Event, SettlementUpdated, Side, TradeBooked
from otcdesk.ids import derived_rng
from otcdesk.settings import Settings, get_settings
from otcdesk.settlement.planner import SettlementPlanner
from streams.stage import Stage

log = logging.getLogger(__name__)

TICK_S = 0.05  # wall seconds between scans of the schedule


def _compact(value: Decimal) -> Decimal:
    return value.normalize() if value.as_tuple().exponent < 0 else value  # type: ignore[operator]


class SettlementStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock: Any = settings.clock()
        self.planner = SettlementPlanner(settings.settlement)
        self.stage = Stage("settlement", settings)
        self.trades = self.stage.table("settling", settings.topics.partitions)
        self.planned: set[str] = set()  # rfq_ids scheduled in this process
        self.schedule: list[tuple[int, int, SettlementUpdated]] = []  # heap of (ts_us, seq, event)
        self._seq = 0
        self._restored = False
        self.stage.agent("trades", self.on_trade)
        self.stage.app.timer(TICK_S)(self.tick)

    def plan(self, trade: TradeBooked) -> list[SettlementUpdated]:
        # A trade's qty_base is decoded at its schema's scale 12, a leg's amount is written at scale
        # 10: drop the trailing zeros so the amounts fit (the value is unchanged).
        trade = replace(trade, qty_base=_compact(trade.qty_base), notional_quote=_compact(trade.notional_quote),
                        fee_quote=_compact(trade.fee_quote))
        rng = derived_rng(self.settings.seed, f"settle:{trade.trade_id}")
        instructions = self.settings.settlement.instructions.get(trade.client_id)
        return list(self.planner.plan(trade, instructions, rng, trade.ts_us))

    def _schedule(self, trade: TradeBooked) -> None:
        self.planned.add(trade.rfq_id)
        for event in self.plan(trade):
            self._seq += 1
            heapq.heappush(self.schedule, (event.ts_us, self._seq, event))

    async def on_trade(self, trade: Event) -> list[Event]:
        if not isinstance(trade, TradeBooked):
            raise RejectedError("wrong_event", f"{type(trade).__name__} on trades")
        if trade.side not in (Side.BUY, Side.SELL):
            raise RejectedError("no_side", f"trade {trade.trade_id} has side {trade.side}")
        if trade.qty_base <= 0 or trade.notional_quote <= 0:
            raise RejectedError("non_positive_qty_base", f"trade {trade.trade_id} qty {trade.qty_base}")
        if trade.rfq_id in self.planned:
            return []  # a redelivery
        self.trades[trade.rfq_id.encode()] = trade
        self._schedule(trade)
        return []

    def _restore(self) -> None:
        """After a restart: replan the trades of the table (sent events come again, same ids)."""
        self._restored = True
        for value in list(self.trades.values()):
            if isinstance(value, TradeBooked) and value.rfq_id not in self.planned:
                self._schedule(value)

    def _recovered(self) -> bool:
        """The table's changelog has been read back (faust's recovery), or there is none to read."""
        try:
            return self.stage.app.tables.recovery.completed.is_set()
        except AttributeError:
            return True

    def due(self, now_us: int) -> list[SettlementUpdated]:
        out = []
        while self.schedule and self.schedule[0][0] <= now_us:
            out.append(heapq.heappop(self.schedule)[2])
        return out

    async def tick(self) -> None:
        if not self._restored and self._recovered():
            self._restore()
        for event in self.due(self.clock.now_us()):
            await self.stage.send(event)


def build(settings: Settings | None = None) -> Stage:
    return SettlementStage(settings or get_settings()).stage
