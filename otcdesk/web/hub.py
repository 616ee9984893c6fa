"""Fan-out of the page's updates: one bounded queue per browser.

`publish` never waits: a browser whose queue is full is dropped (its queue emptied and closed with
a None), so a slow client costs the server nothing. Its EventSource reconnects by itself and
starts again from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from typing import Any

Update = tuple[str, Any]  # (kind, data): "deal", "lag", "status"


class Hub:
    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._clients: set[asyncio.Queue[Update | None]] = set()
        self.dropped = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def subscribe(self) -> asyncio.Queue[Update | None]:
        queue: asyncio.Queue[Update | None] = asyncio.Queue(self.bound + 1)  # + the closing None
        self._clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Update | None]) -> None:
        self._clients.discard(queue)

    def publish(self, kind: str, data: Any) -> None:
        for queue in list(self._clients):
            if queue.qsize() >= self.bound:
                self._drop(queue)
            else:
                queue.put_nowait((kind, data))

    def _drop(self, queue: asyncio.Queue[Update | None]) -> None:
        self._clients.discard(queue)
        self.dropped += 1
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
