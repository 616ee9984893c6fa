"""A stage refuses the ids the CLI and the Python API refuse: control characters, blank, too long."""

from __future__ import annotations

from dataclasses import replace

import pytest

from otcdesk.errors import RejectedError
from otcdesk.events import QuoteResponse, Rfq
from otcdesk.validation import validate_response, validate_rfq
from tests.samples import sample_events

RFQ = next(e for e in sample_events() if isinstance(e, Rfq))
RESPONSE = next(e for e in sample_events() if isinstance(e, QuoteResponse))


def test_the_sample_events_pass() -> None:
    validate_rfq(RFQ)
    validate_response(RESPONSE)


@pytest.mark.parametrize("bad", ["ACME\nINFO fake log line", "AC\x1b[31mME", "ACME\u200b", "  ", "", "x" * 65])
def test_an_rfq_whose_client_id_someone_could_not_have_typed_is_refused(bad: str) -> None:
    with pytest.raises(RejectedError) as refused:
        validate_rfq(replace(RFQ, client_id=bad))
    assert refused.value.reason == "bad_client_id"


@pytest.mark.parametrize(("field", "bad"), [("rfq_id", "r\x00"), ("quote_id", "q\u202e1"), ("client_id", "A\x7f")])
def test_a_response_with_a_control_character_in_an_id_is_refused(field: str, bad: str) -> None:
    with pytest.raises(RejectedError) as refused:
        validate_response(replace(RESPONSE, **{field: bad}))
    assert refused.value.reason == f"bad_{field}"
    assert "control characters" in str(refused.value)
