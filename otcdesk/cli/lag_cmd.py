"""`otcdesk lag`: consumer lag per group and partition, in messages and seconds, with Burrow's verdict.

Exit code 1 when a group is ERR or STOPPED so the command works as an alert check (cron, CI,
Nagios-style); 0 otherwise; 2 when Kafka does not answer (raised as TransientError, printed by main)
or `--serve` cannot listen. `--watch` and `--serve` follow every commit (docs/lag.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

import typer
from prometheus_client import REGISTRY, start_http_server
from rich.console import Group
from rich.live import Live
from rich.table import Table

from consumers.lag import HISTORY_FILE, GroupLag, LagHistory, LagMonitor, exit_code
from consumers.lag_exporter import LagCollector
from otcdesk.cli.output import console, print_json
from otcdesk.cli.params import HOUR_S, MAX_GROUP_LEN, identifier, number, whole
from otcdesk.errors import TransientError, UserError
from otcdesk.settings import Settings, get_settings

log = logging.getLogger("otcdesk.lag")

_STYLE = {"OK": "green", "WARN": "yellow", "NOTFOUND": "dim"}  # everything else is red

PARTITION_COLUMNS = (
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "LAG-TIME",
    "STATUS",
    "CONSUMER-ID",
)


def lag(
    group: list[str] = typer.Option(
        [], "--group", "-g", help="Consumer group to show (repeatable).", callback=identifier(MAX_GROUP_LEN)
    ),
    all_groups: bool = typer.Option(False, "--all", help="Every consumer group on the broker, not only otcdesk-*."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one document per refresh with --watch)."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Refresh in place until Ctrl-C."),
    interval: float = typer.Option(
        2.0, "--interval", help="Seconds between refreshes with --watch or --serve.", callback=number(ge=0.2, le=HOUR_S)
    ),
    serve: int | None = typer.Option(
        None,
        "--serve",
        metavar="PORT",
        callback=whole(ge=1, le=65535),
        help="Serve the otcdesk_lag_* gauges on http://HOST:PORT/metrics until Ctrl-C.",
    ),
    host: str | None = typer.Option(None, "--host", help="Address --serve binds (default: settings metrics.host)."),
) -> None:
    """Lag of the desk's consumer groups: offsets as kafka-consumer-groups.sh, age in seconds, status."""
    settings = get_settings()
    if serve is not None:
        _serve(settings, group, all_groups, host or settings.metrics.host, serve, interval)
        return
    if watch:
        monitor = LagMonitor(settings)
        monitor.ping()
        monitor.follow_commits()
        _watch(monitor, group, all_groups, as_json, interval)
        return
    path = settings.state_dir / HISTORY_FILE
    monitor = LagMonitor(settings, LagHistory.load(path))
    monitor.ping()
    groups = monitor.snapshot(monitor.select_groups(group, all_groups))
    monitor.history.save(path)
    _show(groups, as_json)
    raise typer.Exit(exit_code(groups))


def _watch(monitor: LagMonitor, selected: Sequence[str], all_groups: bool, as_json: bool, interval: float) -> None:
    """Groups are re-listed every tick so a stage that starts later appears without a restart."""
    if as_json:
        while True:
            groups = monitor.snapshot(monitor.select_groups(selected, all_groups))
            print(json.dumps([g.as_json() for g in groups]), flush=True)
            time.sleep(interval)
    with Live(console=console, auto_refresh=False) as live:
        while True:
            groups = monitor.snapshot(monitor.select_groups(selected, all_groups))
            live.update(render(groups, title_suffix=f"  (every {interval:g}s, Ctrl-C to stop)"), refresh=True)
            time.sleep(interval)


def _serve(
    settings: Settings, selected: Sequence[str], all_groups: bool, host: str, port: int, interval: float
) -> None:
    """Refresh every `interval`; a refresh Kafka does not answer keeps the last snapshot (its
    otcdesk_lag_last_refresh_timestamp_seconds ages, which is what to alert on) and is retried."""
    monitor = LagMonitor(settings)
    monitor.ping()
    collector = LagCollector()
    try:
        start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise UserError(f"--serve: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    REGISTRY.register(collector)
    monitor.follow_commits()
    console.print(f"lag exporter on http://{host}:{port}/metrics, refreshed every {interval:g}s (Ctrl-C to stop)")
    while True:
        try:
            collector.update(monitor.snapshot(monitor.select_groups(selected, all_groups)), time.time())
        except TransientError as exc:
            log.warning("lag refresh failed, keeping the last snapshot: %s", exc)
        time.sleep(interval)


def _show(groups: list[GroupLag], as_json: bool) -> None:
    if as_json:
        print_json([g.as_json() for g in groups])
    elif not groups:
        console.print("no consumer groups match (desk groups are named otcdesk-<stage>; try --all)")
    else:
        console.print(render(groups))


def render(groups: Sequence[GroupLag], title_suffix: str = "") -> Group:
    """A group summary (state, members, Burrow-style verdict) above the per-partition table."""
    summary = Table(title=f"Consumer groups{title_suffix}", title_justify="left")
    for column in ("GROUP", "STATE", "MEMBERS", "TOTAL-LAG", "MAX-LAG-TIME", "STATUS"):
        summary.add_column(column, justify="right" if column in ("MEMBERS", "TOTAL-LAG", "MAX-LAG-TIME") else "left")
    for g in groups:
        summary.add_row(
            g.group, g.state, str(g.members), str(g.total_lag), format_age(g.max_lag_seconds), _styled(g.status.value)
        )
    partitions = Table(title="Partitions", title_justify="left")
    for column in PARTITION_COLUMNS:
        numeric = column in ("PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-TIME")
        partitions.add_column(column, justify="right" if numeric else "left")
    for g in groups:
        for p in g.partitions:
            partitions.add_row(
                g.group,
                p.topic,
                str(p.partition),
                _dash(p.current_offset),
                _dash(p.log_end_offset),
                _dash(p.lag),
                format_age(p.lag_seconds),
                _styled(p.status.value),
                p.consumer_id or "-",
            )
    return Group(summary, partitions)


def format_age(seconds: float | None) -> str:
    """Short and sortable by eye: 0s, 4.2s, 3m05s, 2h07m, 3d04h; "-" when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return "0s" if seconds == 0 else f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _dash(value: int | None) -> str:
    """kafka-consumer-groups.sh prints a missing value as "-" (MISSING_COLUMN_VALUE)."""
    return "-" if value is None else str(value)


def _styled(status: str) -> str:
    return f"[{_STYLE.get(status, 'bold red')}]{status}[/]"
