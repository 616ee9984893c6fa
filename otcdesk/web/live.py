"""What every browser sees live: the blotter, the lag and the broker's status, in one place.

The history comes first (ClickHouse's blotter report, newest `web.history_deals` deals, read in a
thread at start), the Kafka feed folds onto it, the lag monitor is sampled every
`web.lag_interval_s`; each change goes to the hub. A new browser gets `snapshot()`, then updates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from consumers.lag import LagHistory, LagMonitor
from otcdesk.analytics import reports
from otcdesk.analytics.request import run_report
from otcdesk.errors import DeskError
from otcdesk.events import Event
from otcdesk.settings import Settings
from otcdesk.web.deals import DealBook
from otcdesk.web.feed import DealFeed
from otcdesk.web.hub import Hub

log = logging.getLogger(__name__)


class LiveDesk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.book = DealBook(settings.web.live_deals)
        self.hub = Hub(settings.web.client_queue)
        self.status: dict[str, Any] = {"broker": None, "detail": "connecting", "history": "loading"}
        self.lag: dict[str, Any] = {"groups": [], "error": ""}
        self._tasks: list[asyncio.Task[None]] = []
        self._feed = DealFeed(settings, self.on_event, self.on_broker)

    def snapshot(self) -> dict[str, Any]:
        return {"deals": self.book.rows(), "lag": self.lag, "status": self.status}

    # inputs ------------------------------------------------------------------------------------
    def on_event(self, topic: str, event: object) -> None:
        row = self.book.apply(event, topic) if isinstance(event, Event) else None
        if row is not None:
            self.hub.publish("deal", row)

    def on_broker(self, up: bool, detail: str) -> None:
        self._set_status(broker=up, detail=detail)

    def _set_status(self, **changes: Any) -> None:
        self.status = self.status | changes
        self.hub.publish("status", self.status)

    # life --------------------------------------------------------------------------------------
    async def start(self, history: bool = True, lag: bool = True) -> None:
        self._feed.start(asyncio.get_running_loop())
        if history:
            self._tasks.append(asyncio.create_task(self._load_history()))
        else:
            self.status["history"] = "off"
        if lag:
            self._tasks.append(asyncio.create_task(self._sample_lag()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.to_thread(self._feed.stop)

    async def _load_history(self) -> None:
        limit = self.settings.web.history_deals
        if limit == 0:
            self._set_status(history="off")
            return
        try:
            chosen = reports.get("blotter")
            _, result = await asyncio.to_thread(
                run_report,
                self.settings,
                chosen,
                reports.ReportOptions(limit=limit),
                self.settings.web.database or None,
            )
        except DeskError as exc:
            self._set_status(history=f"not loaded: {exc}")
            return
        self.book.seed(result.columns, result.rows)
        self._set_status(history=f"{len(result.rows)} deals from ClickHouse")
        self.hub.publish("reload", None)

    async def _sample_lag(self) -> None:
        monitor = LagMonitor(self.settings, LagHistory())
        prefix = self.settings.group("")
        while True:
            try:
                groups = await asyncio.to_thread(_lag_snapshot, monitor, prefix)
                self.lag = {
                    "groups": [g.as_json() | {"max_lag_seconds": g.max_lag_seconds} for g in groups],
                    "error": "",
                }
            except Exception as exc:  # noqa: BLE001 - the page shows it; sampling goes on
                self.lag = {"groups": self.lag["groups"], "error": str(exc)}
            self.hub.publish("lag", self.lag)
            await asyncio.sleep(self.settings.web.lag_interval_s)


def _lag_snapshot(monitor: LagMonitor, prefix: str) -> list:
    monitor.ping()
    return monitor.snapshot([g for g in monitor.select_groups() if g.startswith(prefix)])
