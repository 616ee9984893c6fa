"""Market-data feeds: PriceUpdate events to the `prices` topic from three sources.

=============  ==============================================================================
`sim`          `MarketSim` stepped on a sim clock; a seed and a start epoch fix every byte
`ccxt_feed`    `CcxtBookSource` polling live venues, or the loopback fixture server offline
`replay`       a recorded JSON-lines file re-published with its relative timing, at a speed
`recording`    that JSON-lines format (one PriceUpdate per line, decimals as strings)
`publisher`    the one sink all sources share: Kafka, optional recording, counts per venue
=============  ==============================================================================

docs/feeds.md tells how to run them and what rates they reach.
"""
