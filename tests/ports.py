"""Ports for the servers a test starts itself (a web page, a /metrics endpoint), safe from the
other tests running at the same time (`make test` runs them in several pytest-xdist workers).

A port is probed free here and bound later by a child process, seconds after. Three things could
take it in between, and none can here:
- an outgoing connection of any process (the desk's processes open dozens while they start): the
  kernel gives those ports of the ephemeral range (`ip_local_port_range`), and these are below it;
- a server of a test in another worker: each worker (gw0, gw1, ... of PYTEST_XDIST_WORKER_COUNT)
  draws from a slice of its own, and a worker runs one test at a time;
- a server of the same test (a page and a desk's endpoints): a port is handed out once per process.
The ports the stack and `otcdesk run all` take by default (9000-9999: Kafka 9092, ClickHouse 9000,
/metrics 9400 on) are below the slices too.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

LOWEST = 10_000
_given: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def worker_slice() -> range:
    """The ports this process may choose from: all of LOWEST..ephemeral range without xdist, the
    worker's share of it under xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = (_ephemeral_low() - LOWEST) // max(count, 1)
    start = LOWEST + index * width
    return range(start, start + width)


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive ports free on loopback now, in this worker's slice, none of
    them handed out by this process before."""
    ports = worker_slice()
    pick = random.Random()
    for _ in range(200):
        base = pick.randrange(ports.start, ports.stop - count)
        if _given.intersection(range(base, base + count)):
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        _given.update(range(base, base + count))
        return base
    raise AssertionError(f"no {count} consecutive free ports in {ports}")


def free_port() -> int:
    return free_ports(1)
