"""`otcdesk lag --serve`: the lag monitor's last snapshot as Prometheus gauges (docs/operations.md).

The shape of kafka-lag-exporter and Burrow's HTTP endpoint: per partition the log end, the
committed offset, lag in records and in seconds and Burrow's status; per group the max lag and
the status. A custom collector renders the latest snapshot at scrape time, so a group or
partition that is gone from the snapshot is gone from the output (no stale series); a scrape
never talks to Kafka.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.lag import GroupLag
from consumers.lag_rules import GroupStatus, PartitionStatus

#: Every status the status gauges carry a series for (1 for the current one, 0 for the others).
STATUSES = ("OK", "WARN", "STALL", "STOP", "ERR", "REWIND")
#: A group without members and with lag is STOPPED in `otcdesk lag`; on the gauge it is STOP, the
#: catalogue's name for "nobody is consuming" (Burrow itself says ERR once its partitions STOP).
_GROUP_STATUS = {GroupStatus.OK: "OK", GroupStatus.WARN: "WARN", GroupStatus.ERR: "ERR", GroupStatus.STOPPED: "STOP"}


class LagCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: tuple[GroupLag, ...] = ()
        self._refreshed: float | None = None

    def update(self, groups: Sequence[GroupLag], now: float) -> None:
        """Replace the snapshot; groups that do not exist (NOTFOUND) export nothing."""
        with self._lock:
            self._groups = tuple(g for g in groups if g.status is not GroupStatus.NOTFOUND)
            self._refreshed = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            groups, refreshed = self._groups, self._refreshed
        part = ["group", "topic", "partition"]
        latest = GaugeMetricFamily(
            "otcdesk_lag_partition_latest_offset", "Log end offset (high watermark)", labels=["topic", "partition"]
        )
        offset = GaugeMetricFamily("otcdesk_lag_group_offset", "Committed offset of the group", labels=part)
        lag = GaugeMetricFamily("otcdesk_lag_group_lag", "Records the group is behind the log end", labels=part)
        seconds = GaugeMetricFamily(
            "otcdesk_lag_group_lag_seconds", "Age of the oldest record the group has not consumed", labels=part
        )
        max_lag = GaugeMetricFamily(
            "otcdesk_lag_group_max_lag", "Largest partition lag of the group, records", labels=["group"]
        )
        group_status = GaugeMetricFamily(
            "otcdesk_lag_group_status", "1 for the group's current Burrow status", labels=["group", "status"]
        )
        part_status = GaugeMetricFamily(
            "otcdesk_lag_partition_status", "1 for the partition's current Burrow status", labels=[*part, "status"]
        )
        ends: dict[tuple[str, str], int] = {}
        for g in groups:
            max_lag.add_metric([g.group], max((p.lag or 0 for p in g.partitions), default=0))
            _statuses(group_status, [g.group], _GROUP_STATUS[g.status])
            for p in g.partitions:
                labels = [g.group, p.topic, str(p.partition)]
                if p.log_end_offset is not None:
                    ends[(p.topic, str(p.partition))] = p.log_end_offset
                if p.current_offset is not None:
                    offset.add_metric(labels, p.current_offset)
                if p.lag is not None:
                    lag.add_metric(labels, p.lag)
                if p.lag_seconds is not None:
                    seconds.add_metric(labels, p.lag_seconds)
                _statuses(part_status, labels, PartitionStatus(p.status).value)
        for (topic, partition), end in sorted(ends.items()):
            latest.add_metric([topic, partition], end)
        yield from (latest, offset, lag, seconds, max_lag, group_status, part_status)
        if refreshed is not None:
            stamp = GaugeMetricFamily(
                "otcdesk_lag_last_refresh_timestamp_seconds", "When the exported snapshot was taken, epoch seconds"
            )
            stamp.add_metric([], refreshed)
            yield stamp


def _statuses(family: GaugeMetricFamily, labels: list[str], current: str) -> None:
    for status in STATUSES:
        family.add_metric([*labels, status], 1.0 if status == current else 0.0)
