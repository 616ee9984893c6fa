"""Which venues and symbols a feed publishes: CLI text checked against the venues' metadata.

Unknown names are a `UserError` that lists the valid ones, so a typo costs one line, not a
feed that silently publishes nothing for the misspelt symbol.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from otcdesk.errors import UserError
from otcdesk.events import Venue
from otcdesk.instruments import Instrument

InstrumentKey = tuple[Venue, str]
DESK_VENUES: tuple[Venue, ...] = tuple(venue for venue in Venue if venue is not Venue.UNKNOWN)


def split_names(text: str) -> tuple[str, ...]:
    """`"BTC/USD, eth/usd"` -> `("BTC/USD", "ETH/USD")`: comma separated, upper-cased, no blanks."""
    return tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))


def venues_of(names: Collection[str]) -> tuple[Venue, ...]:
    """Venue enums from names, in the desk's fixed venue order (outputs stay stable)."""
    unknown = sorted(set(names) - {venue.value for venue in DESK_VENUES})
    if unknown:
        raise UserError(f"unknown venue(s) {', '.join(unknown)}; choose from {', '.join(v.value for v in DESK_VENUES)}")
    return tuple(venue for venue in DESK_VENUES if venue.value in names)


def select_instruments(
    instruments: Mapping[InstrumentKey, Instrument],
    symbols: Collection[str],
    venues: Collection[Venue],
) -> dict[InstrumentKey, Instrument]:
    """The instruments asked for; UserError naming what the venues' metadata does not list."""
    known = sorted({symbol for _, symbol in instruments})
    unknown = sorted(set(symbols) - set(known))
    if unknown:
        raise UserError(f"unknown symbol(s) {', '.join(unknown)}; the feeds know {', '.join(known)}")
    chosen = {key: inst for key, inst in instruments.items() if key[1] in symbols and key[0] in venues}
    if not chosen:
        raise UserError("no instrument left after the --symbols and --venues filters")
    return chosen
