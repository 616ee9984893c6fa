"""Fault scenarios (docs/reliability.md): each one runs a small desk flow on real
Kafka and ClickHouse, injects its fault, checks its invariants from ClickHouse and the topics,
and returns its `Figures` (events processed, lost, duplicated, time to recover).

`otcdesk chaos <scenario>` runs them long on demand; tests/chaos runs them short under CI.
"""
