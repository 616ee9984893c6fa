"""The loopback server answers ccxt's requests from otcdesk/venues/recorded/ and 404s the rest."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from otcdesk.venues.constants import FIXTURES_ROOT
from otcdesk.venues.fixtures_server import FixtureServer


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_serves_the_fixture_named_after_the_endpoint(fixture_server: FixtureServer) -> None:
    status, body = _get(fixture_server.url("binance") + "/api/v3/exchangeInfo")

    assert status == 200
    expected = (FIXTURES_ROOT / "binance/api/v3/exchangeInfo.json").read_bytes()
    assert json.loads(body) == json.loads(expected)


def test_a_query_parameter_selects_the_per_symbol_fixture(fixture_server: FixtureServer) -> None:
    status, body = _get(fixture_server.url("binance") + "/api/v3/depth?symbol=ETHUSDT&limit=10")

    assert status == 200
    assert json.loads(body)["lastUpdateId"] == 51234987654


@pytest.mark.parametrize(
    "path",
    [
        "/binance/api/v3/ticker/price",
        "/binance/api/v3/depth?symbol=DOGEUSDT",
        "/",
        "/../../pyproject.toml",
        "/binance/../../../pyproject.toml",
    ],
)
def test_anything_else_is_404(fixture_server: FixtureServer, path: str) -> None:
    status, _ = _get(fixture_server.base_url + path)

    assert status == 404


def test_logs_every_request_it_answered(fixture_server: FixtureServer) -> None:
    _get(fixture_server.url("kraken") + "/0/public/Assets")
    _get(fixture_server.url("kraken") + "/0/public/Nope")

    served = fixture_server.requests_under("/kraken/")
    assert [(r.path, r.status) for r in served] == [
        ("/kraken/0/public/Assets", 200),
        ("/kraken/0/public/Nope", 404),
    ]
    assert served[0].fixture == FIXTURES_ROOT / "kraken/0/public/Assets.json"


def test_injected_failures_answer_first_then_the_fixture(fixture_server: FixtureServer) -> None:
    fixture_server.fail("/okx/", status=503, times=2)
    url = fixture_server.url("okx") + "/api/v5/public/instruments?instType=SPOT"

    statuses = [_get(url)[0] for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_binds_loopback_on_a_free_port_and_stops() -> None:
    with FixtureServer() as first, FixtureServer() as second:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert first.port != second.port
    with pytest.raises(RuntimeError):
        _ = first.port
