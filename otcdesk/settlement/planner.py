"""Both settlement legs of a booked trade, played out over sim time as SettlementUpdated events.

A pure function of (trade, the client's standing instructions, settings, rng, start time): the
same inputs give the same events, ids included. The BASE leg moves the crypto (BTC or ETH on its
own chain); the QUOTE leg moves the net amount by USD wire or USDT on TRON or Ethereum, as the
client's SSI says. A client BUY means the desk delivers base and receives quote; SELL mirrors it.

Sequence (see machine.py for the table): both legs start PENDING_INSTRUCTION, the address is
screened (format for the network, whitelist) to WALLET_VERIFIED or FAILED. The client's leg then
waits for funds (AWAITING_FUNDS -> IN_MEMPOOL -> CONFIRMING n/N -> SETTLED, or a wire credited on
its value date). With `deliver_after_receipt` (default) the desk releases its own leg only once
the client's leg settled, so it never delivers against a payment that failed (no free delivery);
the desk's leg fails too if the client's leg fails. Simulated clients misbehave as their SSI
says: an address of the wrong chain, a bounced transfer (insufficient funds), or no funds at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from otcdesk.events import (
    SettlementLeg,
    SettlementState as S,
    SettlementUpdated,
    Side,
    TradeBooked,
    TransferDirection as Dir,
)
from otcdesk.ids import IdFactory
from otcdesk.instruments import base_of
from otcdesk.settings import SettlementSettings, StandingInstructions
from otcdesk.settlement import addresses, policy
from otcdesk.settlement.machine import LegStatus, transition

SOURCE = "settlement"
US_PER_S = 1_000_000


@dataclass(slots=True)
class _Leg:
    """One leg being played: its static facts, machine status and the events emitted so far."""

    leg: SettlementLeg
    direction: Dir
    asset: str
    network: str
    amount: Decimal
    address: str | None
    settlement_id: str
    status: LegStatus = field(default_factory=LegStatus)
    tx_hash: str | None = None
    value_date: str | None = None
    ts_us: int = 0
    events: list[SettlementUpdated] = field(default_factory=list)


class SettlementPlanner:
    def __init__(self, settings: SettlementSettings) -> None:
        self.settings = settings

    def plan(
        self, trade: TradeBooked, instructions: StandingInstructions | None, rng: random.Random, start_us: int
    ) -> tuple[SettlementUpdated, ...]:
        if trade.side not in (Side.BUY, Side.SELL):
            raise ValueError(f"trade {trade.trade_id} has no side to settle: {trade.side}")
        s = self.settings
        quote_rail = instructions.quote_rail if instructions else policy.rail("USD", policy.WIRE)
        q_asset, q_network = policy.split_rail(quote_rail)
        base = base_of(trade.symbol)
        desk_pays_base = trade.side is Side.BUY
        legs = [
            self._leg(
                SettlementLeg.BASE,
                Dir.DESK_TO_CLIENT if desk_pays_base else Dir.CLIENT_TO_DESK,
                base,
                base,
                policy.base_leg_amount(trade),
                instructions,
                rng,
            ),
            self._leg(
                SettlementLeg.QUOTE,
                Dir.CLIENT_TO_DESK if desk_pays_base else Dir.DESK_TO_CLIENT,
                q_asset,
                q_network,
                policy.quote_leg_amount(trade),
                instructions,
                rng,
            ),
        ]
        wrong_network = instructions is not None and rng.random() < instructions.wrong_network_prob
        insufficient = instructions is not None and rng.random() < instructions.insufficient_funds_prob
        no_funds = instructions is not None and rng.random() < instructions.timeout_prob
        if wrong_network and instructions is not None:
            self._swap_in_wrong_address(legs, instructions)
        incoming, outgoing = sorted(legs, key=lambda leg: leg.direction is Dir.DESK_TO_CLIENT)
        for leg in legs:
            self._emit(trade, leg, rng, start_us, S.PENDING_INSTRUCTION)
        verified_us = start_us + int(s.verify_s * US_PER_S)
        for leg in (incoming, outgoing):
            self._verify(trade, leg, instructions, rng, verified_us)
        if not incoming.status.terminal:
            self._receive(trade, incoming, rng, insufficient, no_funds)
        if not outgoing.status.terminal:
            self._deliver(trade, outgoing, incoming, rng)
        events = incoming.events + outgoing.events
        order = {SettlementLeg.BASE: 0, SettlementLeg.QUOTE: 1}
        return tuple(sorted(events, key=lambda e: (e.ts_us, order[e.leg])))

    def _leg(
        self,
        leg: SettlementLeg,
        direction: Dir,
        asset: str,
        network: str,
        amount: Decimal,
        instructions: StandingInstructions | None,
        rng: random.Random,
    ) -> _Leg:
        address = instructions.addresses.get(policy.rail(asset, network)) if instructions else None
        out = _Leg(leg, direction, asset, network, amount, address, IdFactory(rng).new())
        out.status = LegStatus(
            confirmations_required=policy.required_confirmations(asset, network, amount, self.settings)
        )
        return out

    @staticmethod
    def _swap_in_wrong_address(legs: list[_Leg], instructions: StandingInstructions) -> None:
        """The client names the address it holds on another chain (a classic loss of funds)."""
        for leg in sorted(legs, key=lambda leg: leg.leg is SettlementLeg.BASE):  # QUOTE leg first
            others = [
                a
                for key, a in sorted(instructions.addresses.items())
                if policy.is_crypto(leg.network) and policy.split_rail(key)[1] not in (leg.network, policy.WIRE)
            ]
            if others:
                leg.address = others[0]
                return

    def _emit(
        self,
        trade: TradeBooked,
        leg: _Leg,
        rng: random.Random,
        ts_us: int,
        state: S,
        *,
        confirmations: int | None = None,
        reason: str | None = None,
    ) -> None:
        if leg.events:  # the first event reports the initial state, every later one a transition
            leg.status = transition(leg.status, state, confirmations=confirmations, reason=reason)
        leg.ts_us = ts_us
        leg.events.append(
            SettlementUpdated(
                IdFactory(rng).new(),
                ts_us,
                SOURCE,
                trade.rfq_id,
                trade.trade_id,
                leg.settlement_id,
                leg.leg,
                leg.direction,
                leg.asset,
                leg.network,
                leg.amount,
                leg.address,
                leg.tx_hash,
                leg.status.confirmations,
                leg.status.confirmations_required,
                state,
                reason,
                leg.value_date,
            )
        )

    def _verify(
        self, trade: TradeBooked, leg: _Leg, instructions: StandingInstructions | None, rng: random.Random, ts_us: int
    ) -> None:
        if instructions is None or leg.address is None:
            self._emit(trade, leg, rng, ts_us, S.FAILED, reason=f"NO_SSI: no {leg.asset}@{leg.network} instruction")
            return
        if policy.is_crypto(leg.network):
            check = addresses.validate(
                leg.address, leg.network, require_eth_checksum=self.settings.eth_require_checksum
            )
            if not check.ok:
                self._emit(trade, leg, rng, ts_us, S.FAILED, reason=f"INVALID_ADDRESS: {check.reason}")
                return
            if not addresses.is_whitelisted(leg.address, instructions.whitelist):
                self._emit(
                    trade, leg, rng, ts_us, S.FAILED, reason="NOT_WHITELISTED: address not on the client's whitelist"
                )
                return
        self._emit(trade, leg, rng, ts_us, S.WALLET_VERIFIED)

    def _receive(self, trade: TradeBooked, leg: _Leg, rng: random.Random, insufficient: bool, no_funds: bool) -> None:
        s = self.settings
        self._emit(trade, leg, rng, leg.ts_us, S.AWAITING_FUNDS)
        sent_us = leg.ts_us + int(rng.expovariate(1.0) * float(s.client_funding_s) * US_PER_S)
        if not policy.is_crypto(leg.network):
            value_date, credit_us = policy.wire_credit_us(sent_us, s)
            leg.value_date = value_date.isoformat()
            deadline_us = policy.wire_deadline_us(value_date, s)
        else:
            credit_us = 0
            deadline_us = leg.ts_us + int(s.funding_timeout_s * US_PER_S)
        if no_funds:
            self._emit(trade, leg, rng, deadline_us, S.TIMED_OUT, reason="FUNDS_NOT_RECEIVED: client never paid")
        elif insufficient:
            self._emit(trade, leg, rng, sent_us, S.FAILED, reason="INSUFFICIENT_FUNDS: client transfer bounced")
        elif policy.is_crypto(leg.network):
            self._on_chain(trade, leg, rng, sent_us)
        else:
            self._emit(trade, leg, rng, credit_us, S.SETTLED)

    def _deliver(self, trade: TradeBooked, leg: _Leg, incoming: _Leg, rng: random.Random) -> None:
        s = self.settings
        release_us = leg.ts_us
        if s.deliver_after_receipt:
            if incoming.status.state is not S.SETTLED:
                self._emit(
                    trade,
                    leg,
                    rng,
                    incoming.ts_us,
                    S.FAILED,
                    reason=f"COUNTERPARTY_LEG_NOT_SETTLED: client leg {incoming.status.state}",
                )
                return
            release_us = max(release_us, incoming.ts_us)
        sent_us = release_us + int(s.desk_send_s * US_PER_S)
        if policy.is_crypto(leg.network):
            self._emit(trade, leg, rng, sent_us, S.SENT)
            self._on_chain(trade, leg, rng, sent_us)
        else:
            value_date, credit_us = policy.wire_credit_us(sent_us, s)
            leg.value_date = value_date.isoformat()
            self._emit(trade, leg, rng, sent_us, S.SENT)
            self._emit(trade, leg, rng, credit_us, S.SETTLED)

    def _on_chain(self, trade: TradeBooked, leg: _Leg, rng: random.Random, sent_us: int) -> None:
        """Broadcast, then one event per block until the required confirmations."""
        s = self.settings
        leg.tx_hash = policy.new_tx_hash(leg.network, rng)
        ts_us = sent_us + int(s.broadcast_s * US_PER_S)
        self._emit(trade, leg, rng, ts_us, S.IN_MEMPOOL)
        required = leg.status.confirmations_required
        for n in range(1, required + 1):
            ts_us += policy.next_block_wait_us(leg.network, s, rng, first=n == 1)
            self._emit(trade, leg, rng, ts_us, S.SETTLED if n == required else S.CONFIRMING, confirmations=n)
