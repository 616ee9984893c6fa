"""Desk stages as faust-streaming apps: one module per stage, each its own consumer group.

`STAGES` names every stage process (its consumer group is `otcdesk-<name>`); the supervisor,
docker-compose.yml and the lag monitor all read this one list.
"""

STAGES: tuple[str, ...] = (
    "aggregator",  # rfq + prices -> priced RFQs for the quote engine
    "quote-engine",  # priced RFQs -> quotes / quote rejects
    "acceptance",  # quotes + client responses -> trades / refusals
    "client-sim",  # quotes -> simulated clients' responses
    # The back office (hedger, venue-sim, settlement, recon) has its pure cores in otcdesk/
    # (hedging, venue_sim, settlement, recon) but no stage yet.
)


def build_stage(name: str):  # noqa: ANN201 - returns streams.stage.Stage (import kept lazy)
    """Build the named stage (importing only its module): `otcdesk stage run NAME`."""
    import importlib

    if name not in STAGES:
        from otcdesk.errors import UserError

        raise UserError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return importlib.import_module(f"streams.{name.replace('-', '_')}").build()
