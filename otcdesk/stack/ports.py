"""Choosing the local stack's TCP ports.

The defaults (9092/9093/9000/8123) are what every tool and doc expects, so they win whenever they
are free. When something that is not ours holds one, the stack moves to another port and records
it in `stack.json` instead of failing: a laptop often runs another ClickHouse or Kafka already.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable

HOST = "127.0.0.1"


def is_port_free(port: int, host: str = HOST) -> bool:
    """True when a server could listen on host:port now.

    SO_REUSEADDR mirrors what Kafka and ClickHouse set themselves, so a port left in TIME_WAIT by
    our own previous run counts as free, while a live listener (on this address or 0.0.0.0) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_port(host: str = HOST) -> int:
    """A port the kernel considers free right now (there is a small race until the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(
    preferred: Iterable[int | None],
    taken: set[int],
    is_free: Callable[[int], bool] = is_port_free,
    fallback: Callable[[], int] = ephemeral_port,
) -> int:
    """The first preferred port that is free and not already given to another component.

    `preferred` is normally (configured default, port recorded by the previous run): a stack that
    had to move keeps its moved port across restarts. Failing both, any free port.
    """
    for port in preferred:
        if port and port not in taken and is_free(port):
            return port
    for _ in range(100):
        port = fallback()
        if port not in taken:
            return port
    raise OSError("no free TCP port found on 127.0.0.1")


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Something accepts TCP connections at host:port (cheap pre-check before a client library
    starts its own retry loop and fills stderr with connection errors)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
