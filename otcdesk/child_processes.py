"""Run `otcdesk` commands as child processes of one namespace, each writing its own log file.

For what drives a desk from outside (bench, the integration tests): start named commands, stop
them on exit, restart one, and put the last lines of every log in an error message.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from otcdesk.settings import Settings
from otcdesk.supervisor import OTCDESK

__all__ = ["OTCDESK", "env_of", "processes", "restart", "tails"]


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with the namespace of `settings`, unbuffered output and `extra`."""
    return dict(os.environ, OTCDESK_NAMESPACE=settings.namespace, PYTHONUNBUFFERED="1", **extra)


@contextmanager
def processes(
    settings: Settings, commands: Mapping[str, Sequence[str]], logs: Path, **env: str
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start `otcdesk <args>` per name, output to `logs/<name>.log`; on exit terminate them all
    (kill one that has not stopped after 30 s)."""
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            running[name] = subprocess.Popen(
                [*OTCDESK, *args], env=env_of(settings, **env), stdout=log, stderr=subprocess.STDOUT
            )
        yield running
    finally:
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def restart(
    procs: dict[str, subprocess.Popen[bytes]],
    name: str,
    settings: Settings,
    args: Sequence[str],
    logs: Path,
    **env: str,
) -> None:
    """kill -9 one process and start it again (appending to its log)."""
    procs[name].kill()
    procs[name].wait(30)
    log = open(logs / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
    procs[name] = subprocess.Popen([*OTCDESK, *args], env=env_of(settings, **env), stdout=log, stderr=subprocess.STDOUT)


def tails(logs: Path, lines: int = 25) -> str:
    """The last `lines` lines of every log in `logs`, each under its file name."""
    return "\n".join(
        f"== {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
        for p in sorted(logs.glob("*.log"))
    )
