"""`AvroSerde.peek`: event name, id and time of a record without decoding the rest."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, strategies as st

from otcdesk.serde import DecodeError, default_serde
from tests.samples import sample_events


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_peek_reads_what_decode_reads(event) -> None:
    serde = default_serde()
    name, event_id, ts_us = serde.peek(serde.encode(event))
    assert (name, event_id, ts_us) == (type(event).SCHEMA, event.event_id, event.ts_us)


@given(st.binary(max_size=64))
def test_peek_of_arbitrary_bytes_is_a_decode_error_or_a_result_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        default_serde().peek(data)
