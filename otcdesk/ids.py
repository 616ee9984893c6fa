"""Event and deal ids that a seed reproduces.

`uuid.uuid4()` reads the OS entropy pool, so two runs with the same `--seed` would give different
ids and nothing downstream (ClickHouse dedup by event_id, golden files, recon) could be compared
run to run. An `IdFactory` draws the 128 bits from a `random.Random` it is given instead, and
stamps the UUID version 4 bits, so the text is a valid UUID4 of 36 characters.

Each component derives its own stream with `IdFactory.from_seed(seed, "quote-engine")`: drawing
an id in one component never shifts the random sequence of another.
"""

from __future__ import annotations

import random
import uuid


def derived_rng(seed: int, stream: str) -> random.Random:
    """A generator for one named purpose; str seeds hash with SHA-512, stable across processes."""
    return random.Random(f"{seed}:{stream}")


class IdFactory:
    """UUID4 text from a seeded generator (or the OS pool for live, unseeded use)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    @classmethod
    def from_seed(cls, seed: int, stream: str) -> IdFactory:
        return cls(derived_rng(seed, stream))

    @classmethod
    def system(cls) -> IdFactory:
        """Unseeded ids for live sessions (SystemRandom reads os.urandom)."""
        return cls(random.SystemRandom())

    def new(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
