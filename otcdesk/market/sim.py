"""`MarketSim`: the desk's simulated venues, stepped by the caller's clock.

Per step: the shared regime may switch, each symbol's fair price moves by the elapsed time, each
venue's basis mean-reverts. Then every venue/symbol decides whether it publishes: a venue in a
stale spell stays silent until the spell ends (so `now - ts_us` grows past `stale_book_ms` and
the aggregator must exclude it); otherwise it publishes with probability `update_prob`,
occasionally a crossed book. Iteration order is fixed (symbol, then venue in `Venue` order), and
each concern has its own random stream, so ids never perturb prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from otcdesk.clock import US_PER_S
from otcdesk.events import PriceUpdate, Venue
from otcdesk.ids import IdFactory, derived_rng
from otcdesk.instruments import Instrument
from otcdesk.market.book import BookShape, build_book
from otcdesk.market.regimes import Basis, FairWalk, Regime, RegimeProcess
from otcdesk.settings import SimSettings

_VENUE_ORDER = {venue: i for i, venue in enumerate(Venue)}


@dataclass(slots=True)
class _Feed:
    """Mutable state of one venue/symbol feed."""

    instrument: Instrument
    basis: Basis
    sequence: int = 0
    silent_until_us: int = 0


class MarketSim:
    def __init__(
        self,
        instruments: Iterable[Instrument],
        settings: SimSettings,
        seed: int,
        *,
        source: str = "feed-sim",
    ) -> None:
        self.settings = settings
        self.source = source
        self._rng = derived_rng(seed, "market")
        self._ids = IdFactory.from_seed(seed, "market-ids")
        ordered = sorted(instruments, key=lambda i: (i.symbol, _VENUE_ORDER[i.venue]))
        if not ordered:
            raise ValueError("MarketSim needs at least one instrument")
        missing = {i.symbol for i in ordered} - set(settings.start_price_quote)
        if missing:
            raise ValueError(f"no start price for {sorted(missing)} in SimSettings.start_price_quote")
        self.regime = RegimeProcess(settings, self._rng)
        self.fair: dict[str, FairWalk] = {}
        self._feeds: list[_Feed] = []
        for inst in ordered:
            if inst.symbol not in self.fair:
                self.fair[inst.symbol] = FairWalk(
                    float(settings.start_price_quote[inst.symbol]),
                    settings.symbol_vol_factor.get(inst.symbol, 1.0),
                    self._rng,
                )
            basis = Basis(settings.basis_std_bps, settings.basis_half_life_s, self._rng)
            self._feeds.append(_Feed(inst, basis))
        self._last_us: int | None = None

    def fair_price(self, symbol: str) -> float:
        """The hidden 'true' price (for tests and diagnostics; venues see it through noise)."""
        return self.fair[symbol].price

    @property
    def current_regime(self) -> Regime:
        return self.regime.regime

    def step(self, now_us: int) -> list[PriceUpdate]:
        """Advance to `now_us` and return the updates of the venues publishing now."""
        if self._last_us is not None and now_us < self._last_us:
            raise ValueError(f"time went backwards: {now_us} < {self._last_us}")
        dt_s = 0.0 if self._last_us is None else (now_us - self._last_us) / US_PER_S
        self._last_us = now_us
        self.regime.advance(dt_s)
        for walk in self.fair.values():
            walk.advance(dt_s, self.regime.vol_bps_per_sqrt_s)
        updates = []
        for feed in self._feeds:
            feed.basis.advance(dt_s)
            update = self._publish(feed, now_us)
            if update is not None:
                updates.append(update)
        return updates

    def _publish(self, feed: _Feed, now_us: int) -> PriceUpdate | None:
        s, rng, inst = self.settings, self._rng, feed.instrument
        if now_us < feed.silent_until_us:
            return None
        if rng.random() < s.stale_prob:
            low_ms, high_ms = s.stale_ms_range
            feed.silent_until_us = now_us + rng.randint(low_ms, high_ms) * 1000
            return None
        if rng.random() >= s.update_prob:
            return None
        mid = self.fair[inst.symbol].price * (1.0 + (feed.basis.bps + rng.gauss(0.0, s.noise_bps)) * 1e-4)
        shape = BookShape(
            mid_quote=mid,
            half_spread_bps=s.touch_half_spread_bps * self.regime.spread_factor * rng.uniform(0.5, 1.5),
            level_step_bps=s.level_step_bps * self.regime.spread_factor**0.5,
            touch_qty_base=s.touch_qty_base.get(inst.symbol, 1.0)
            * s.venue_depth_factor.get(inst.venue.value, 1.0)
            * self.regime.depth_factor,
            size_growth_per_level=s.size_growth_per_level,
            levels=s.depth_levels,
            crossed=rng.random() < s.crossed_prob,
        )
        bids, asks = build_book(inst, shape, rng)
        feed.sequence += 1
        return PriceUpdate(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            venue=inst.venue,
            symbol=inst.symbol,
            bids=bids,
            asks=asks,
            sequence=feed.sequence,
            taker_fee_rate=inst.taker_fee_rate,
            tick_size_quote=inst.tick_size_quote,
            lot_size_base=inst.lot_size_base,
        )
