"""Bad input and an unreachable stack as JSON the page shows next to the field, never a traceback.

The message is the one line the CLI would print; `field` names the form field it is about, when
the message says so.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from otcdesk.analytics.render import plain
from otcdesk.errors import DeskError, UserError

#: Message starts (otcdesk.client, otcdesk.analytics.timespec) -> the form field they are about.
_FIELDS = (
    ("client id", "client"),
    ("unknown symbol", "symbol"),
    ("side", "side"),
    ("qty", "qty"),
    ("notional", "notional"),
    ("give exactly one size", "qty"),
    ("--since", "since"),
    ("--until", "until"),
    ("--bucket", "bucket"),
    ("--as-of", "as_of"),
    ("--limit", "limit"),
    ("unknown report", "report"),
    ("this is a two-way quote", "side"),
)


def field_of(message: str) -> str:
    return next((name for start, name in _FIELDS if message.startswith(start)), "")


def _default(value: Any) -> Any:
    return plain(value) if isinstance(value, Decimal) else str(value)


class DeskJSON(JSONResponse):
    """Decimals as exact strings, as `--json` prints them."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, separators=(",", ":")).encode()


def dumps(content: Any) -> str:
    return json.dumps(content, default=_default, separators=(",", ":"))


async def desk_error(_request: Request, exc: Exception) -> Response:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = 400 if isinstance(exc, UserError) else 503
    return DeskJSON({"error": message, "field": field_of(message)}, status_code=status)


HANDLERS = {DeskError: desk_error}
