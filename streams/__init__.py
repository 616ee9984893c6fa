"""Desk stages as faust-streaming apps: one module per stage, each its own consumer group.

`STAGES` names every stage process (its consumer group is `otcdesk-<name>`); the supervisor,
docker-compose.yml and the lag monitor all read this one list.
"""

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


def build_stage(name: str):  # noqa: ANN201 - returns streams.stage.Stage (import kept lazy)
    """Build the named stage (importing only its module): `otcdesk stage run NAME`."""
    import importlib

    if name not in STAGES:
        from otcdesk.errors import UserError

        raise UserError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return importlib.import_module(f"streams.{name.replace('-', '_')}").build()
