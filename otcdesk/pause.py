"""A simulated session's clock stands still while one of its processes is down.

Why: at 600x the 10-15 s a killed stage takes to come back (python and faust start-up, its
consumer group waiting out the dead member's session, its state rebuilt) are two hours of
market. Quotes would expire before a restarted client-sim answers them and hedges would wait for
a feed that restarts behind: the session would be another one, not the same one with a fault.
A desk running at 1x loses those seconds and its graces cover them (docs/reliability.md); a
simulation instead stops its clock. So the session's runner holds the clock from the moment a
process dies (killed or crashed) until that process says it handles records again, and every
process of the session reads the pauses through its `AnchoredClock`.

The processes of a session are children of one supervisor on one machine, so the control is two
kinds of local files in the session's control dir (`OTCDESK_SIM_CONTROL_DIR`):

- `pause.json`: `{"paused_us": wall us of the pauses that ended, "since_us": when the current one
  began (or null), "down": [processes]}`, replaced atomically (write, then rename), read by every
  clock (one `stat` per read; the content again when the file changed, and at least every 20 ms:
  a freed inode can come back with the same coarse mtime);
- `ready/<name>`: the pid of process `name` once it handles records (a stage: its partitions
  assigned and its state rebuilt; the feed: caught up with the clock). A restart is over when the
  file holds the new process's pid.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from otcdesk.clock import wall_now_us

PAUSE_FILE = "pause.json"
READY_DIR = "ready"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class PauseReader:
    """`(paused_us, since_us)` of a session's pause file: what an `AnchoredClock` subtracts."""

    def __init__(self, control_dir: Path) -> None:
        self.path = Path(control_dir) / PAUSE_FILE
        self._seen: tuple[int, int] | None = None  # (inode, mtime) of the content below
        self._read_at = 0.0  # monotonic time of that read
        self._value: tuple[int, int | None] = (0, None)

    def __call__(self) -> tuple[int, int | None]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._value
        now = time.monotonic()
        if (st.st_ino, st.st_mtime_ns) != self._seen or now - self._read_at > 0.02:
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):  # replaced while read: the next call reads the new one
                return self._value
            self._value = (int(data["paused_us"]), None if data["since_us"] is None else int(data["since_us"]))
            self._seen, self._read_at = (st.st_ino, st.st_mtime_ns), now
        return self._value


class SessionPause:
    """The runner's side: hold the clock while any named process is down, release it when none is."""

    def __init__(self, control_dir: Path, wall_us: Callable[[], int] = wall_now_us) -> None:
        self.dir = Path(control_dir)
        (self.dir / READY_DIR).mkdir(parents=True, exist_ok=True)
        self._wall_us = wall_us
        self.down: set[str] = set()
        self.paused_us = 0
        self.since_us: int | None = None
        self.lengths_s: list[float] = []  # wall seconds of each pause that ended: the restarts' cost
        self._write()

    def hold(self, name: str) -> None:
        if name in self.down:
            return
        if not self.down:
            self.since_us = self._wall_us()
        self.down.add(name)
        self._write()

    def release(self, name: str) -> None:
        if name not in self.down:
            return
        self.down.discard(name)
        if not self.down and self.since_us is not None:
            length_us = self._wall_us() - self.since_us
            self.paused_us += length_us
            self.lengths_s.append(length_us / 1e6)
            self.since_us = None
        self._write()

    def ready_pid(self, name: str) -> int | None:
        """The pid process `name` last said it was ready with."""
        try:
            return int((self.dir / READY_DIR / name).read_text())
        except (OSError, ValueError):
            return None

    def _write(self) -> None:
        body = {"paused_us": self.paused_us, "since_us": self.since_us, "down": sorted(self.down)}
        _write_atomically(self.dir / PAUSE_FILE, json.dumps(body))


def mark_ready(control_dir: Path, name: str) -> None:
    """Process `name` (this pid) handles records: a restart of it is over."""
    ready = Path(control_dir) / READY_DIR
    ready.mkdir(parents=True, exist_ok=True)
    _write_atomically(ready / name, str(os.getpid()))
