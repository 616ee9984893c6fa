"""Desk stages as faust-streaming apps: one module per stage, each its own consumer group.

`STAGES` names every stage (its consumer group is `otcdesk-<name>`); the supervisor,
docker-compose.yml and the lag monitor all read this one list. `LAYOUTS` says which stages share
a worker process (streams/host.py); a stage keeps its own group whatever process hosts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stage modules import faust: kept lazy
    from streams.stage import Stage

STAGES: tuple[str, ...] = (
    "aggregator",  # rfq + prices -> priced RFQs for the quote engine
    "quote-engine",  # priced RFQs -> quotes / quote rejects
    "acceptance",  # quotes + client responses -> trades / refusals
    "client-sim",  # quotes -> simulated clients' responses
    "hedger",  # trades + fills + venue reports -> hedge orders (TWAP clips, routing)
    "venue-sim",  # hedge orders -> fills and venue reports (the exchange side in simulation)
    "settlement",  # trades -> settlement updates of both legs, in sim time
    "recon",  # trades + orders + fills + settlements -> recon results
)

#: layout -> process name -> the stages it hosts (`Settings.layout`, docs/architecture.md: Layouts)
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "per-stage": {stage: (stage,) for stage in STAGES},
    "offices": {
        "front-office": ("aggregator", "quote-engine", "acceptance", "client-sim"),
        "back-office": ("hedger", "venue-sim", "settlement", "recon"),
    },
    "desks": {
        "pricing": ("aggregator",),
        "dealing": ("quote-engine", "acceptance", "client-sim"),
        "back-office": ("hedger", "venue-sim", "settlement", "recon"),
    },
}


def stage_processes(layout: str, stages: Sequence[str] = STAGES) -> dict[str, tuple[str, ...]]:
    """The processes of `layout` that host some of `stages`, each with those it hosts."""
    if layout not in LAYOUTS:
        from otcdesk.errors import UserError

        raise UserError(f"unknown layout {layout!r}; layouts: {', '.join(LAYOUTS)}")
    chosen = set(stages)
    hosted = {name: tuple(s for s in group if s in chosen) for name, group in LAYOUTS[layout].items()}
    return {name: group for name, group in hosted.items() if group}


def build_stage(name: str) -> Stage:
    """Build the named stage (importing only its module): `otcdesk stage run NAME`."""
    import importlib

    if name not in STAGES:
        from otcdesk.errors import UserError

        raise UserError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return importlib.import_module(f"streams.{name.replace('-', '_')}").build()
