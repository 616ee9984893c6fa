"""Desk stages as faust-streaming apps: one module per stage, each its own consumer group.

`STAGES` names every stage process (its consumer group is `otcdesk-<name>`); the supervisor,
docker-compose.yml and the lag monitor all read this one list.
"""

STAGES: tuple[str, ...] = (
    "aggregator",  # rfq + prices -> priced RFQs for the quote engine
    "quote-engine",  # priced RFQs -> quotes / quote rejects
    "acceptance",  # quotes + client responses -> trades / refusals
    "hedger",  # trades + fills -> hedge orders
    "venue-sim",  # hedge orders -> fills (the exchange side in simulation)
    "settlement",  # trades -> settlement updates, both legs
    "recon",  # trades + fills + settlements -> recon results
)
