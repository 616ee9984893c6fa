"""The analytics view: `otcdesk report NAME` as JSON rows, and the time-series reports' plot as a
PNG drawn by the same code as `--plot`. The options are `otcdesk report`'s, as query parameters.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from otcdesk.analytics import reports
from otcdesk.analytics.render import plain_rows, plot
from otcdesk.analytics.request import report_request, run_report
from otcdesk.errors import UserError
from otcdesk.settings import Settings
from otcdesk.web.errors import DeskJSON


def _asked(request: Request) -> tuple[reports.Report, reports.ReportOptions]:
    q = request.query_params
    limit = q.get("limit") or None
    if limit is not None and not limit.isdigit():
        raise UserError(f"--limit must be a whole number, got {limit!r}")
    return report_request(
        request.path_params["name"],
        q.get("since") or None,
        q.get("until") or None,
        q.get("bucket") or "1m",
        q.get("as_of") or None,
        int(limit) if limit else None,
    )


def _png(settings: Settings, chosen: reports.Report, options: reports.ReportOptions) -> bytes:
    if chosen.plot is None:
        raise UserError(f"{chosen.name} is not a time series")
    _, result = run_report(settings, chosen, options, settings.web.database or None)
    spec = chosen.plot
    with tempfile.TemporaryDirectory(prefix="otcdesk-web-") as tmp:
        path = plot(
            Path(tmp) / "plot.png",
            chosen.title,
            result.columns,
            result.rows,
            spec.x,
            spec.series,
            spec.y,
            stacked=spec.stacked,
        )
        return path.read_bytes()


def routes(settings: Settings) -> list[Route]:
    async def listing(_request: Request) -> Response:
        return DeskJSON([{"name": n, "title": t, "plot": bool(p)} for n, t, p in reports.listing()])

    async def report(request: Request) -> Response:
        chosen, options = _asked(request)
        db, result = await asyncio.to_thread(run_report, settings, chosen, options, settings.web.database or None)
        return DeskJSON(
            {
                "report": chosen.name,
                "title": chosen.title,
                "database": db,
                "columns": list(result.columns),
                "rows": plain_rows(result.rows),
            }
        )

    async def picture(request: Request) -> Response:
        chosen, options = _asked(request)
        return Response(await asyncio.to_thread(_png, settings, chosen, options), media_type="image/png")

    return [
        Route("/api/reports", listing),
        Route("/api/reports/{name}", report),
        Route("/api/reports/{name}/plot.png", picture),
    ]
