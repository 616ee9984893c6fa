"""The RFQ ticket: publish through `otcdesk rfq publish`'s path, wait for the quote, answer it
through `otcdesk quote accept | decline`'s path. Each broker round trip runs in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from otcdesk.client import build_rfq, check_id, send_rfq
from otcdesk.errors import UserError
from otcdesk.events import Quote, QuoteAction, QuoteRejected, Side, TradeBooked, to_avro
from otcdesk.follow import DealFollower
from otcdesk.quote_answer import answer_quote
from otcdesk.settings import Settings
from otcdesk.validation import MAX_ID_LEN
from otcdesk.web.errors import DeskJSON

#: Seconds of the quotes topic searched for the quote answered (`quote accept --lookback`).
LOOKBACK_S = 120.0


async def _form(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise UserError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object")
    return {k: (str(v).strip() or None) if v is not None else None for k, v in body.items()}


def _quote_of(settings: Settings, form: dict[str, Any]) -> dict[str, Any]:
    rfq = build_rfq(
        form.get("client") or "",
        form.get("symbol") or "",
        form.get("side"),
        qty_base=form.get("qty"),
        notional_quote=form.get("notional"),
        settings=settings,
        source="web",
    )
    follower = cast(DealFollower, send_rfq(rfq, settings, follow=True))  # follow=True: always one
    try:
        for event in follower.events(settings.web.quote_wait_s):
            if isinstance(event, Quote):
                # the quote's own lifetime in wall seconds: the desk's clock runs at sim_speed
                left_s = max(event.valid_until_us - event.ts_us, 0) / 1e6 / settings.sim_speed
                return {"rfq_id": rfq.rfq_id, "quote": to_avro(event), "valid_for_s": left_s}
            if isinstance(event, QuoteRejected):
                return {"rfq_id": rfq.rfq_id, "rejected": {"reason": event.reason.value, "detail": event.detail}}
    finally:
        follower.close()
    raise UserError(f"no quote within {settings.web.quote_wait_s:g} s (is the desk running?)")


def routes(settings: Settings) -> list[Route]:
    async def publish(request: Request) -> Response:
        form = await _form(request)
        return DeskJSON(await asyncio.to_thread(_quote_of, settings, form))

    async def answer(request: Request) -> Response:
        form = await _form(request)
        quote_id, verb = request.path_params["quote_id"], request.path_params["action"]
        if verb not in ("accept", "decline"):
            raise UserError(f"a quote is accepted or declined, not {verb!r}")
        check_id("quote id", quote_id, MAX_ID_LEN)
        action = QuoteAction.ACCEPT if verb == "accept" else QuoteAction.DECLINE
        side = form.get("side")
        if side is not None and side.upper() not in (Side.BUY.value, Side.SELL.value):
            raise UserError(f"side must be buy or sell, got {side!r}")
        trade: TradeBooked | None = await asyncio.to_thread(
            answer_quote, settings, quote_id, action, side, LOOKBACK_S, settings.web.quote_wait_s, "web"
        )
        return DeskJSON({"trade": to_avro(trade)} if trade else {"declined": quote_id})

    return [
        Route("/api/rfq", publish, methods=["POST"]),
        Route("/api/quotes/{quote_id}/{action:str}", answer, methods=["POST"]),
    ]
