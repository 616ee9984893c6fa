"""Event producers: RFQ publishing and load generation, market-data feeds (sim, ccxt, replay)."""
