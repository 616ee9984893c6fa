"""Venue adapters over ccxt: instrument metadata and order books of Binance, Coinbase, OKX, Kraken.

Laid out like a trading-framework adapter, one concern per module:

=====================  ==========================================================================
`constants`            venue ids, ccxt ids, desk symbol -> venue market, ccxt options
`factories`            ccxt exchanges (sync and asyncio), optionally re-pointed at another host
`providers`            `Instrument`s (tick, lot, minimum, fees) from ccxt's `load_markets()`
`parsing`              ccxt order book dict -> `PriceUpdate` with Decimal levels
`data`                 `CcxtBookSource`: polls books of several venues, per-venue backoff
`fixtures_server`      loopback HTTP server answering like the venues, from `recorded/`
`recorded/`            venue responses in each venue's format (package data; its README.md)
=====================  ==========================================================================

docs/venues.md tells what is loaded, from which endpoints, and how to run against live venues.
"""
