"""Metrics outside the stages (those are in tests/stream/test_stage_metrics.py): `otcdesk run all`
gives every process its own port (the supervisor the base, child n base + n), a port in use leaves
the process running without metrics, the supervisor counts its restarts, the feed its updates."""

from __future__ import annotations

import logging
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from otcdesk.cli.run_cmd import _serve_metrics
from otcdesk.errors import UserError
from otcdesk.events import Venue
from otcdesk.metrics import serve
from otcdesk.settings import MetricsSettings, Settings
from otcdesk.supervisor import Backoff, Child, Supervisor, desk_children, with_metrics_ports
from producers.feeds.publisher import FeedPublisher
from streams import STAGES
from tests.ports import free_port
from tests.stream.test_frontoffice_agents import _book


def _ports(layout: str, *, feed: bool = True, sink: bool = True) -> list[tuple[str, int | None, tuple[str, ...]]]:
    children = desk_children(STAGES, with_feed=feed, with_sink=sink, layout=layout)
    with_metrics_ports(children, 9400)
    return [(c.name, c.metrics_port, c.args[-2:]) for c in children]


def test_every_child_gets_the_base_plus_its_place_on_its_command_line() -> None:
    assert _ports("desks") == [
        ("feed", 9401, ("--metrics-port", "9401")),
        ("pricing", 9402, ("--metrics-port", "9402")),
        ("dealing", 9403, ("--metrics-port", "9403")),
        ("back-office", 9404, ("--metrics-port", "9404")),
        ("sink", 9405, ("--metrics-port", "9405")),
    ]


@pytest.mark.parametrize("layout", ["per-stage", "offices", "desks"])
def test_ports_are_deterministic_and_never_shared(layout: str) -> None:
    ports = [port for _, port, _ in _ports(layout)]
    assert ports == [port for _, port, _ in _ports(layout)]
    assert len(set(ports)) == len(ports) and 9400 not in ports  # the base is the supervisor's


def test_a_port_in_use_is_one_warning_and_no_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="otcdesk.metrics"):
            assert serve("127.0.0.1", port, "stage unit") is None
    assert [r.getMessage() for r in caplog.records] == [
        f"stage unit: no /metrics on 127.0.0.1:{port} (Address already in use); running without metrics"
    ]


def test_port_zero_or_none_is_off() -> None:
    assert serve("127.0.0.1", 0, "off") is None and serve("127.0.0.1", None, "off") is None


def test_an_endpoint_serves_the_desk_series_and_the_process_collector() -> None:
    port = free_port()
    assert serve("127.0.0.1", port, "unit") == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for name in (
        "otcdesk_stage_events_in_total",
        "otcdesk_quote_latency_seconds",
        "otcdesk_feed_updates_total",
        "otcdesk_supervisor_restarts_total",
        "process_start_time_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_run_all_with_metrics_off_gives_no_port(tmp_path: Path) -> None:
    supervisor = Supervisor(desk_children(STAGES, with_feed=True, with_sink=False, layout="desks"), {}, tmp_path)
    assert _serve_metrics(supervisor, MetricsSettings(enabled=False)) is None
    assert all(c.metrics_port is None and "--metrics-port" not in c.args for c in supervisor.children)


def test_a_base_port_without_room_for_every_child_is_a_user_error(tmp_path: Path) -> None:
    supervisor = Supervisor(desk_children(STAGES, with_feed=True, with_sink=True, layout="per-stage"), {}, tmp_path)
    with pytest.raises(UserError, match="leaves no port for 10 processes"):
        _serve_metrics(supervisor, MetricsSettings(base_port=65530))


def test_the_supervisor_counts_each_restart_of_a_child(tmp_path: Path) -> None:
    before = REGISTRY.get_sample_value("otcdesk_supervisor_restarts_total", {"process": "metrics-crasher"}) or 0.0
    now = [0.0]
    crashing = Child("metrics-crasher", ("stage", "run", "no-such-stage"))  # exits 2 at once
    sup = Supervisor([crashing], {}, tmp_path, Backoff(first_s=1, cap_s=60), clock=lambda: now[0])
    sup.start()
    try:
        # the child's series is there at 0 before any restart: increase() sees the first one
        assert REGISTRY.get_sample_value("otcdesk_supervisor_restarts_total", {"process": "metrics-crasher"}) == before
        assert crashing.proc is not None
        crashing.proc.wait(60)
        sup.tick()  # seen exiting: a restart is due in 1 s
        now[0] = 1.0
        assert sup.tick() == ["metrics-crasher restarted (restart #1)"]
    finally:
        sup.stop(grace_s=5)
    after = REGISTRY.get_sample_value("otcdesk_supervisor_restarts_total", {"process": "metrics-crasher"})
    assert after == before + 1


class _Producer:
    def __init__(self) -> None:
        self.produced: list[object] = []

    def produce(self, event: object) -> None:
        self.produced.append(event)


def test_the_feed_counts_its_updates_by_venue_and_symbol() -> None:
    def count(venue: str) -> float:
        return REGISTRY.get_sample_value("otcdesk_feed_updates_total", {"venue": venue, "symbol": "BTC/USD"}) or 0.0

    before = {venue: count(venue) for venue in ("BINANCE", "OKX")}
    publisher = FeedPublisher(Settings(), "sim", producer=_Producer())
    for venue in (Venue.BINANCE, Venue.OKX, Venue.BINANCE):
        publisher.publish(_book(venue, "95000"))
    assert {venue: count(venue) - before[venue] for venue in before} == {"BINANCE": 2, "OKX": 1}
