"""The app factory: every view's routes, the live state's life, the static page (package data)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from otcdesk.errors import DeskError, UserError
from otcdesk.settings import Settings
from otcdesk.web import analytics, ticket
from otcdesk.web.errors import HANDLERS, DeskJSON, dumps
from otcdesk.web.history import merged, stored_events
from otcdesk.web.live import LiveDesk

#: Seconds between SSE keep-alive comments (proxies close idle streams).
PING_S = 15


def create_app(settings: Settings, *, live: bool = True, history: bool = True, lag: bool = True) -> Starlette:
    """`live=False`: no Kafka consumer, no lag sampling (unit tests of the routes without a broker)."""
    desk = LiveDesk(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if live:
            await desk.start(history=history, lag=lag)
        try:
            yield
        finally:
            if live:
                await desk.stop()

    async def index(_request: Request) -> Response:
        return HTMLResponse(files("otcdesk.web").joinpath("static/index.html").read_text())

    async def state(_request: Request) -> Response:
        return DeskJSON(desk.snapshot())

    async def deal(request: Request) -> Response:
        rfq_id = request.path_params["rfq_id"]
        found = desk.book.get(rfq_id)
        if found is None:
            raise UserError(f"deal {rfq_id} is not on the blotter")
        events, note = found.events, ""
        if history:
            try:
                stored = await asyncio.to_thread(stored_events, settings, rfq_id, settings.web.database or None)
                events = merged(found.events, stored)
            except DeskError as exc:  # the live events still show; say why the rest does not
                note = f"ClickHouse history not read: {exc}"
        return DeskJSON({"row": found.row(), "events": events, "note": note})

    async def stream(request: Request) -> Response:
        queue = desk.hub.subscribe()

        async def updates() -> AsyncIterator[dict[str, str]]:
            try:
                yield {"event": "snapshot", "data": dumps(desk.snapshot())}
                while not await request.is_disconnected():
                    update = await queue.get()
                    if update is None:
                        return  # dropped as too slow: the browser reconnects for a fresh snapshot
                    kind, data = update
                    yield {"event": kind, "data": dumps(data)}
            finally:
                desk.hub.unsubscribe(queue)

        return EventSourceResponse(updates(), ping=PING_S)

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/stream", stream),
        Route("/api/deals/{rfq_id}", deal),
        *ticket.routes(settings),
        *analytics.routes(settings),
        Mount("/static", StaticFiles(packages=[("otcdesk.web", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=HANDLERS)
    app.state.desk = desk
    return app
