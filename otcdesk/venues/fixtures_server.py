"""A loopback HTTP server that answers like the exchanges, from JSON files shipped in the package.

Nothing can be recorded from a real exchange in this project's build environment (no internet),
yet ccxt only fills its markets (tick, lot, limits) through `load_markets()`, which talks HTTP.
Pointing ccxt's `urls['api']` at this server lets ccxt run its *real* request and parsing code
against responses written in each venue's documented format, so tests, the offline `--source
ccxt` feed and the simulator's metadata all go through the same path a live desk would.

Layout: a request for `/<venue>/<exchange path>?<query>` is answered from
`<root>/<venue>/<exchange path>@<key>=<value>.json` for the first query parameter that has such a
file (order books differ by symbol), else from `<root>/<venue>/<exchange path>.json`, else 404.
The root is `otcdesk/venues/recorded/` (package data, in the wheel too); its README.md names the
endpoint behind every file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from otcdesk.events import Venue
from otcdesk.venues.constants import FIXTURE_DIRS, FIXTURES_ROOT, LOOPBACK_HOST, VENUES

log = logging.getLogger(__name__)

#: How often the serving thread checks for shutdown (http.server's 0.5 s default makes every
#: `with FixtureServer()` block half a second longer than its work).
_SHUTDOWN_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One answered request, kept so tests can assert which endpoints ccxt really called."""

    path: str
    query: str
    status: int
    fixture: Path | None


@dataclass(slots=True)
class _InjectedFailure:
    path_prefix: str
    status: int
    body: bytes
    remaining: int


class FixtureServer:
    """Serve recorded-format exchange responses on 127.0.0.1 from a background thread.

    Use as a context manager; `url(venue_dir)` gives the base URL that replaces the exchange's
    host in ccxt's `urls['api']`. Port 0 (the default) lets the OS pick a free port, so parallel
    test runs never collide.
    """

    def __init__(self, root: Path = FIXTURES_ROOT, port: int = 0) -> None:
        self.root = root.resolve()
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failures: list[_InjectedFailure] = []
        self.served: list[ServedRequest] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FixtureServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((LOOPBACK_HOST, self._requested_port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name="venue-fixtures",
            daemon=True,
        )
        self._thread.start()
        log.info("venue fixture server on %s serving %s", self.base_url, self.root)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("fixture server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}"

    def url(self, venue_dir: str) -> str:
        """Base URL standing in for one venue's API host (`http://127.0.0.1:<port>/<venue_dir>`)."""
        return f"{self.base_url}/{venue_dir}"

    def venue_urls(self, venues: tuple[Venue, ...] = VENUES) -> dict[Venue, str]:
        """Base URL per venue, the `base_urls` argument of providers and book sources."""
        return {venue: self.url(FIXTURE_DIRS[venue]) for venue in venues}

    # -- test hooks -----------------------------------------------------------------------------

    def fail(
        self,
        path_prefix: str,
        status: int = 500,
        times: int = 1,
        body: bytes = b"Internal Server Error",
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with `status` (outage drills).

        The default plain-text body is what a venue's load balancer sends on an outage; ccxt
        maps it by HTTP status (5xx -> `ExchangeNotAvailable`, a `NetworkError`). A JSON body
        goes through the venue's own error parser first and may become an `ExchangeError`.
        """
        with self._lock:
            self._failures.append(_InjectedFailure(path_prefix, status, body, times))

    def requests_under(self, path_prefix: str) -> list[ServedRequest]:
        with self._lock:
            return [r for r in self.served if r.path.startswith(path_prefix)]

    # -- resolution (called from handler threads) -----------------------------------------------

    def _take_failure(self, path: str) -> tuple[int, bytes] | None:
        with self._lock:
            for failure in self._failures:
                if failure.remaining > 0 and path.startswith(failure.path_prefix):
                    failure.remaining -= 1
                    return failure.status, failure.body
        return None

    def resolve(self, path: str, query: str) -> Path | None:
        """The fixture answering `path?query`, or None; never a file outside the root."""
        relative = path.strip("/")
        if not relative:
            return None
        candidates = [f"{relative}@{key}={value}.json" for key, value in parse_qsl(query)]
        candidates.append(f"{relative}.json")
        for name in candidates:
            file = (self.root / name).resolve()
            if file.is_relative_to(self.root) and file.is_file():
                return file
        return None

    def _record(self, served: ServedRequest) -> None:
        with self._lock:
            self.served.append(served)
        log.debug("served %s %s?%s from %s", served.status, served.path, served.query, served.fixture)


def _content_type(body: bytes) -> str:
    return "application/json" if body.lstrip()[:1] in (b"{", b"[") else "text/plain"


def _make_handler(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    # A handler class bound to one FixtureServer (http.server builds one instance per request).

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # Recorded before answering, so a client that got its response finds it logged.
            parts = urlsplit(self.path)
            injected = server._take_failure(parts.path)
            if injected is not None:
                status, body = injected
                server._record(ServedRequest(parts.path, parts.query, status, None))
                self._send(status, body, _content_type(body))
                return
            fixture = server.resolve(parts.path, parts.query)
            if fixture is None:
                server._record(ServedRequest(parts.path, parts.query, 404, None))
                self._send(HTTPStatus.NOT_FOUND, b"no fixture for this request", "text/plain")
                return
            server._record(ServedRequest(parts.path, parts.query, 200, fixture))
            self._send(HTTPStatus.OK, fixture.read_bytes())

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Requests are logged through `logging` by FixtureServer._record instead of stderr.
            return

    return _Handler


def main() -> None:
    """Serve the fixtures until interrupted, printing each venue's base URL (manual testing)."""
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(message)s")
    with FixtureServer() as server:
        for venue, url in server.venue_urls().items():
            print(f"{venue.value:<9} {url}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
