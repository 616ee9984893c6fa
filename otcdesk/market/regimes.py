"""The fair price: a geometric random walk whose volatility switches between regimes.

Crypto volatility clusters: quiet hours, ordinary trading, and stress when spreads widen and
books thin out. A continuous-time Markov chain over three regimes reproduces that with a few
numbers: each regime lasts an exponential time (mean `regime_mean_duration_s`), then moves to
another with the probabilities of `regime_next`. The regime is market-wide (one process shared
by every symbol), because stress in crypto hits BTC and ETH together.

Floats are used for the walk only (log returns, exp); prices leave this module as floats and
are snapped to each venue's tick with Decimal arithmetic by the book builder.
"""

from __future__ import annotations

import math
import random
from enum import StrEnum

from otcdesk.settings import SimSettings


class Regime(StrEnum):
    CALM = "calm"
    NORMAL = "normal"
    STRESSED = "stressed"


class RegimeProcess:
    """Markov switching between regimes, advanced by elapsed time (any step size)."""

    def __init__(self, settings: SimSettings, rng: random.Random) -> None:
        self._settings = settings
        self._rng = rng
        self.regime = Regime(settings.start_regime)

    def advance(self, dt_s: float) -> Regime:
        """Leave the current regime with probability 1 - exp(-dt / mean duration)."""
        mean_s = self._settings.regime_mean_duration_s[self.regime.value]
        if dt_s > 0 and self._rng.random() < 1.0 - math.exp(-dt_s / mean_s):
            choices = self._settings.regime_next[self.regime.value]
            names = sorted(choices)  # dict order must not matter to determinism
            self.regime = Regime(self._rng.choices(names, [choices[n] for n in names])[0])
        return self.regime

    @property
    def vol_bps_per_sqrt_s(self) -> float:
        return self._settings.regime_vol_bps_per_sqrt_s[self.regime.value]

    @property
    def depth_factor(self) -> float:
        return self._settings.regime_depth_factor[self.regime.value]

    @property
    def spread_factor(self) -> float:
        return self._settings.regime_spread_factor[self.regime.value]


class FairWalk:
    """Fair price of one symbol: exp of a Brownian motion with the regime's volatility."""

    def __init__(self, start_price: float, vol_factor: float, rng: random.Random) -> None:
        self.price = start_price
        self._vol_factor = vol_factor
        self._rng = rng

    def advance(self, dt_s: float, vol_bps_per_sqrt_s: float) -> float:
        if dt_s > 0:
            sigma = vol_bps_per_sqrt_s * self._vol_factor * 1e-4 * math.sqrt(dt_s)
            self.price *= math.exp(sigma * self._rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma)
        return self.price


class Basis:
    """A venue's offset to fair in bps: Ornstein-Uhlenbeck, so venues drift apart and back."""

    def __init__(self, std_bps: float, half_life_s: float, rng: random.Random) -> None:
        self._std = std_bps
        self._tau_s = half_life_s / math.log(2)
        self._rng = rng
        self.bps = rng.gauss(0.0, std_bps)

    def advance(self, dt_s: float) -> float:
        if dt_s > 0:
            decay = math.exp(-dt_s / self._tau_s)
            shock = self._std * math.sqrt(1.0 - decay * decay) * self._rng.gauss(0.0, 1.0)
            self.bps = self.bps * decay + shock
        return self.bps
