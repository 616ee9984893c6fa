"""Starting, finding and stopping the stack's detached server processes.

A process counts as ours only when its command line carries a marker unique to this state
directory (the path of the config file we generated): pid files go stale and pids get reused,
and `down` must never kill somebody else's Kafka or ClickHouse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

# Popen handles of servers started by this Python process. Keeping them referenced lets us reap
# an exited child (no zombie that still looks alive) and avoids "still running" ResourceWarnings.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(cmd: Sequence[str], log_path: Path, cwd: Path) -> int:
    """Start cmd in its own session (Ctrl-C in the terminal or the CLI exiting does not stop it),
    stdout and stderr to log_path; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:  # one run per file: a failure tail shows this run only
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def exited(pid: int) -> int | None:
    """Exit code of a child we started that has exited; None while it runs (or if not our child)."""
    proc = _CHILDREN.get(pid)
    return None if proc is None else proc.poll()


def alive(pid: int | None) -> bool:
    """The process exists (it may belong to someone else: check `is_ours` for that)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str:
    """The process's argv joined by spaces; '' when it does not exist or is a zombie."""
    exited(pid)  # reap it first if it is our exited child
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _command_line_from_ps(pid) if not Path("/proc/self").exists() else ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _command_line_from_ps(pid: int) -> str:
    """macOS and other systems without /proc."""
    out = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return out.stdout.strip()


def is_ours(pid: int | None, marker: str) -> bool:
    return bool(pid) and marker in command_line(int(pid or 0))


def find_process(marker: str) -> int | None:
    """A running process whose command line contains marker: adopts a server whose pid file was
    lost, instead of starting a second one on the same data directory."""
    proc_dir = Path("/proc")
    if not proc_dir.exists():
        return None
    for entry in proc_dir.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and is_ours(int(entry.name), marker):
            return int(entry.name)
    return None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def terminate(pids: dict[int, str], timeout_s: float) -> dict[int, str]:
    """SIGTERM every pid (each with the marker proving it is ours), wait for all of them together,
    SIGKILL the ones still alive after timeout_s. Returns pid -> 'stopped' | 'killed'."""
    outcome: dict[int, str] = {}
    for pid, marker in pids.items():
        if is_ours(pid, marker):
            os.kill(pid, signal.SIGTERM)
            outcome[pid] = "stopped"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(is_ours(p, pids[p]) for p in outcome):
        time.sleep(0.1)
    for pid in outcome:
        if is_ours(pid, pids[pid]):
            os.kill(pid, signal.SIGKILL)
            outcome[pid] = "killed"
    for pid in outcome:  # SIGKILL is asynchronous: wait until the kernel has released it
        end = time.monotonic() + 5
        while is_ours(pid, pids[pid]) and time.monotonic() < end:
            time.sleep(0.05)
        _CHILDREN.pop(pid, None)
    return outcome


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail(path: Path, lines: int = 30, start: int = 0) -> list[str]:
    """The last lines of a log file written after byte offset start ([] when none): a server
    appends to its log across runs, and a failure report must show this run's lines only."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start if start <= size(path) else 0)  # smaller file: it was rotated meanwhile
            return [line.decode(errors="replace").rstrip("\n") for line in deque(fh, maxlen=lines)]
    except OSError:
        return []
