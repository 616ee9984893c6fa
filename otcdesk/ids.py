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


_CAUSAL_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")


class CausalIds(IdFactory):
    """Ids derived from the event being handled: the n-th id made while handling event E is
    uuid5(E.event_id, n). A stage that handles a redelivered event (at-least-once) makes the
    same ids again, so its outputs deduplicate downstream instead of doubling; and since inputs
    are seeded, so are outputs. A restarted process cannot reuse ids of other events, which a
    sequence restarted from the seed would.
    """

    def __init__(self) -> None:
        super().__init__(random.Random(0))
        self._parent = ""
        self._count = 0

    def rebase(self, parent_id: str) -> None:
        self._parent, self._count = parent_id, 0

    def new(self) -> str:
        if not self._parent:
            raise RuntimeError("CausalIds.new() before rebase(): which event is being handled?")
        self._count += 1
        return str(uuid.uuid5(_CAUSAL_NAMESPACE, f"{self._parent}:{self._count}"))
