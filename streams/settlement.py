"""Settlement stage: booked trades -> both settlement legs, played out on `settlements` in event time.

- `trades` -> `SettlementPlanner.plan` (`otcdesk.settlement`): the whole sequence of
  SettlementUpdated of both legs (screening, funding, mempool, confirmations, wire credit), each
  stamped with its time, from the trade's own time and `derived_rng(seed, "settle:<trade_id>")`.
  The sequence is a pure function of the trade, so planning it again gives the same events, ids
  included.
- one timer per planned event, at its time: the legs advance as stream time (live: the desk
  clock) passes.

Restart: the trades are read again from the first offset and planned again; events already on
`settlements` are not sent again (`Stage`: known ids).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from otcdesk.errors import RejectedError
from otcdesk.events import Event, SettlementUpdated, Side, TradeBooked
from otcdesk.ids import derived_rng
from otcdesk.settings import Settings, get_settings
from otcdesk.settlement.planner import SettlementPlanner
from streams.stage import Stage

log = logging.getLogger(__name__)

TRADES_RANK, STEP_RANK = 0, 1


def _compact(value: Decimal) -> Decimal:
    return value.normalize() if value.as_tuple().exponent < 0 else value  # type: ignore[operator]  # finite amounts only


class SettlementStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.planner = SettlementPlanner(settings.settlement)
        self.stage = Stage("settlement", settings, outputs=("settlements",))
        self.planned: set[str] = set()  # rfq_ids planned
        self.stage.consume("trades", {TradeBooked: self.on_trade}, rank=TRADES_RANK, waits_for=("acceptance",))

    def plan(self, trade: TradeBooked) -> list[SettlementUpdated]:
        # A trade's qty_base is decoded at its schema's scale 12, a leg's amount is written at scale
        # 10: drop the trailing zeros so the amounts fit (the value is unchanged).
        trade = replace(
            trade,
            qty_base=_compact(trade.qty_base),
            notional_quote=_compact(trade.notional_quote),
            fee_quote=_compact(trade.fee_quote),
        )
        rng = derived_rng(self.settings.seed, f"settle:{trade.trade_id}")
        instructions = self.settings.settlement.instructions.get(trade.client_id)
        return list(self.planner.plan(trade, instructions, rng, trade.ts_us))

    async def on_trade(self, trade: TradeBooked) -> list[Event]:
        if trade.side not in (Side.BUY, Side.SELL):
            raise RejectedError("no_side", f"trade {trade.trade_id} has side {trade.side}")
        if trade.qty_base <= 0 or trade.notional_quote <= 0:
            raise RejectedError("non_positive_qty_base", f"trade {trade.trade_id} qty {trade.qty_base}")
        if trade.rfq_id in self.planned:
            return []  # a redelivery
        self.planned.add(trade.rfq_id)
        for event in self.plan(trade):
            self.stage.send_at(max(event.ts_us, trade.ts_us), f"settle:{event.event_id}", [event], rank=STEP_RANK)
        return []


def build(settings: Settings | None = None) -> Stage:
    return SettlementStage(settings or get_settings()).stage
