"""One SELECT whose execution on the server ends when the client stops waiting for it.

clickhouse-driver answers Ctrl-C by closing the socket, and ClickHouse 18.16 then runs the query
to its end: a closed connection is noticed only when there is a result block to send, which a
`count()` over a long scan does not have. The protocol's Cancel packet stops it at once. So while
the query runs, SIGINT and SIGTERM only note that they came (a second one acts as usual); the
answer is read packet by packet (18.16 sends a progress packet every `interactive_delay`,
100 ms), and between packets a noted signal or the client's deadline sends Cancel and reads the
stream to its end. A client killed outright (SIGKILL) cannot send anything: its query runs until
the server's max_execution_time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

CANCEL_DRAIN_S = 5.0  # how long to read the stream after Cancel before dropping the connection
_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Rows = list[tuple[Any, ...]]
Columns = list[tuple[str, str]]


class Stopped(Exception):
    """The client stopped waiting (`why`: a signal's name or "deadline"); `cancelled` unless the
    answer was already complete, with nothing left running on the server."""

    def __init__(self, why: str, waited_s: float, cancelled: bool = True) -> None:
        super().__init__(why)
        self.why = why
        self.waited_s = waited_s
        self.cancelled = cancelled


def select(driver: Client, sql: str, deadline_s: float) -> tuple[Rows, Columns]:
    """Rows and (name, type) columns of `sql`; Stopped after a signal or past `deadline_s`."""
    began = time.monotonic()
    noted: list[str] = []
    with _noting_signals(noted):
        answer = driver.execute_with_progress(sql, with_column_types=True)
        for _ in answer:
            why = noted[0] if noted else "deadline" if time.monotonic() - began > deadline_s else None
            if why:
                cancel(driver)
                raise Stopped(why, time.monotonic() - began)
        rows, columns = answer.get_result()
    if noted:  # the answer was complete when the signal came: nothing left to stop on the server
        raise Stopped(noted[0], time.monotonic() - began, cancelled=False)
    return rows, columns


def cancel(driver: Client) -> None:
    """Send Cancel and read what the server still sends until its end of stream (18.16 may end it
    with an exception); then drop the connection, which a cancelled query leaves unusable."""
    connection = driver.connection
    try:
        if connection.socket is not None:
            connection.socket.settimeout(CANCEL_DRAIN_S)
        driver.cancel(with_column_types=True)
    except (DriverError, OSError, EOFError):
        pass  # the server refused or the socket broke: the query is over either way
    finally:
        driver.disconnect()


@contextmanager
def _noting_signals(noted: list[str]) -> Iterator[None]:
    """SIGINT and SIGTERM append their name to `noted` instead of acting; the first one restores
    the previous handlers. Signal handlers belong to the main thread: elsewhere, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def note(signum: int, _frame: FrameType | None) -> None:
        noted.append(signal.Signals(signum).name)
        restore()

    for sig in _SIGNALS:
        signal.signal(sig, note)
    try:
        yield
    finally:
        restore()
