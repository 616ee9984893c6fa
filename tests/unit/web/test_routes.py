"""The web routes without a broker: the page, bad input as one-line JSON next to its field."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from otcdesk.settings import Settings
from otcdesk.web.app import create_app
from otcdesk.web.history import merged
from otcdesk.web.hub import Hub
from otcdesk.web.live import LiveDesk


@pytest.fixture(scope="module")
def web() -> TestClient:
    with TestClient(create_app(Settings(), live=False)) as client:
        yield client


def test_the_page_and_its_static_files_are_package_data(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200 and 'id="ticket"' in page.text and "/static/app.js" in page.text
    assert "EventSource" in web.get("/static/app.js").text
    assert web.get("/static/style.css").status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "start"),
    [
        ({"client": "ACME", "symbol": "DOGE/USD", "side": "buy", "qty": "1"}, "symbol", "unknown symbol 'DOGE/USD'"),
        ({"client": "ACME", "symbol": "BTC/USD", "side": "buy", "qty": "-1"}, "qty", "qty must be a positive"),
        (
            {"client": "ACME", "symbol": "BTC/USD", "side": "buy", "qty": "1", "notional": "5"},
            "qty",
            "give exactly one size",
        ),
        (
            {"client": "ACME", "symbol": "BTC/USD", "side": "up", "qty": "1"},
            "side",
            "side must be buy, sell or two-way",
        ),
        ({"client": "", "symbol": "BTC/USD", "side": "buy", "qty": "1"}, "client", "client id"),
    ],
)
def test_a_bad_rfq_is_the_cli_line_next_to_its_field(web: TestClient, body: dict, field: str, start: str) -> None:
    resp = web.post("/api/rfq", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and resp.json()["error"].startswith(start), resp.json()


def test_a_body_that_is_not_json_is_a_message_not_a_traceback(web: TestClient) -> None:
    resp = web.post("/api/rfq", content=b"{not json")
    assert resp.status_code == 400 and resp.json() == {"error": "the request body is not JSON", "field": ""}


def test_a_quote_answer_is_checked_before_the_broker(web: TestClient) -> None:
    wrong = web.post("/api/quotes/q-1/cancel", json={})
    assert wrong.status_code == 400 and wrong.json()["error"] == "a quote is accepted or declined, not 'cancel'"
    resp = web.post("/api/quotes/q-1/accept", json={"side": "both"})
    assert resp.status_code == 400 and resp.json()["error"] == "side must be buy or sell, got 'both'"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/reports/nope", "report"),
        ("/api/reports/hit_ratio?since=yesterday-ish", "since"),
        ("/api/reports/hit_ratio?bucket=fortnight", "bucket"),
        ("/api/reports/hit_ratio/plot.png", ""),
        ("/api/reports/hit_ratio?as_of=1h", "as_of"),
        ("/api/reports/blotter?limit=many", "limit"),
    ],
)
def test_a_bad_report_request_is_the_report_commands_line(web: TestClient, query: str, field: str) -> None:
    resp = web.get(query)
    assert resp.status_code == 400 and resp.json()["field"] == field, resp.text


def test_the_report_list_and_an_unknown_deal(web: TestClient) -> None:
    names = [r["name"] for r in web.get("/api/reports").json()]
    assert "blotter" in names and "inventory_pnl" in names
    assert web.get("/api/deals/nope").json()["error"] == "deal nope is not on the blotter"
    assert web.get("/api/state").json()["deals"] == []


def test_a_slow_browser_is_dropped_not_waited_for() -> None:
    async def run() -> None:
        hub = Hub(bound=2)
        slow, fast = hub.subscribe(), hub.subscribe()
        for n in range(3):
            hub.publish("deal", n)
            while not fast.empty():
                await fast.get()
        assert hub.clients == 1 and hub.dropped == 1
        assert slow.get_nowait() is None  # its stream ends; the browser reconnects for a snapshot
        hub.publish("deal", 4)
        assert fast.get_nowait() == ("deal", 4)

    asyncio.run(run())


def test_the_page_is_told_when_the_broker_goes_and_comes_back() -> None:
    async def run() -> None:
        desk = LiveDesk(Settings())
        browser = desk.hub.subscribe()
        desk.on_broker(False, "all brokers down")
        desk.on_broker(True, "")
        assert [browser.get_nowait()[1]["broker"] for _ in range(2)] == [False, True]
        assert desk.snapshot()["status"]["broker"] is True

    asyncio.run(run())


def test_stored_and_live_events_are_one_per_event_id_oldest_first() -> None:
    stored = [{"ts_us": 2, "fields": {"event_id": "b"}}, {"ts_us": 1, "fields": {"event_id": "a"}}]
    live = [{"ts_us": 2, "fields": {"event_id": "b"}}, {"ts_us": 3, "fields": {"event_id": "c"}}]
    assert [e["fields"]["event_id"] for e in merged(live, sorted(stored, key=lambda e: e["ts_us"]))] == ["a", "b", "c"]
