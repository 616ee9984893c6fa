"""The sample events, one of every type: they live in the package (`otcdesk.samples`), which bench
uses too; re-exported here for the tests."""

from __future__ import annotations

from otcdesk.samples import RFQ_ID, T0, sample_events

__all__ = ["RFQ_ID", "T0", "sample_events"]
