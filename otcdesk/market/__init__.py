"""Seeded market simulator: fair-price walks with volatility regimes, venue books with depth.

Pure and deterministic: `MarketSim(instruments, settings, seed).step(now_us)` returns the
`PriceUpdate` events of the venues that publish at that instant; the same seed and the same
sequence of `now_us` give the same events, ids included. It knows nothing of Kafka: the
market-data producer calls `step` on its clock and publishes what comes back.
"""

from otcdesk.market.regimes import Regime, RegimeProcess
from otcdesk.market.sim import MarketSim

__all__ = ["MarketSim", "Regime", "RegimeProcess"]
