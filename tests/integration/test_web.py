"""`otcdesk web` in a real (headless) Chromium against a running desk on the real stack.

A person publishes an RFQ from the ticket, sees the quote counting down, accepts it and watches
the deal reach SETTLED and MATCHED in the blotter without reloading; then the recon stage is
stopped and a second deal booked, recon's lag rises on the lag view, it is restarted and the lag
falls. Each view is saved as a screenshot; with OTCDESK_SCREENSHOTS=1, as the
docs/screenshots/*.png linked from the README and docs/web.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from otcdesk.analytics import reports
from otcdesk.db.generate import FILLS_PER_DEAL, generate
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.settings import Settings
from tests.integration.browser import chromium, free_port, shot, text, wait
from tests.integration.desk import namespace, processes, restart, tails
from tests.ports import free_ports

pytestmark = pytest.mark.integration

SPEED = "60"  # settlement in wall seconds (a BTC confirmation is 10 s at 60x)
TTL_MS = "20000"  # the quote's wall lifetime: long enough to see it count down on a loaded machine
FRONT = "aggregator,quote-engine,acceptance,client-sim,hedger,venue-sim,settlement"


@pytest.fixture(scope="module")
def history(server: DriverRunner, stack: Settings) -> Iterator[str]:
    """A database with a generated history (`otcdesk db generate`) for the blotter's start and the reports."""
    name = f"otcdesk_it_web_{uuid.uuid4().hex[:8]}"
    migrate(server, name)
    fees = reports.REPORTS["recon_breaks"].params(stack, reports.ReportOptions())  # the venues' fee schedule
    generate(server, name, 200 * FILLS_PER_DEAL, fees)
    yield name
    server.execute(f"DROP DATABASE IF EXISTS {name}")


def _quoted(driver, logs) -> None:
    """Publish from the ticket until quoted: while the desk starts, the first RFQs find no fresh book.
    BLUEFIN settles USDT on Ethereum (seconds at 60x), not a USD wire that waits for its value date."""
    driver.find_element("id", "client").clear()
    driver.find_element("id", "client").send_keys("BLUEFIN")
    for _ in range(30):
        driver.find_element("id", "qty").clear()
        driver.find_element("id", "qty").send_keys("0.5")
        driver.find_element("id", "publish").click()
        outcome = wait(
            driver,
            60,
            lambda d: (
                "quote"
                if d.find_element("id", "countdown").text.endswith(" s")
                else text(d, "outcome") or text(d, "err-form")
            ),
            "no answer to the RFQ",
        )
        if outcome == "quote":
            return
        assert "NO_FRESH_VENUE" in outcome or "INSUFFICIENT_DEPTH" in outcome, (outcome, tails(logs))
        time.sleep(2)
    raise AssertionError(f"never quoted\n{tails(logs)}")


def _members(driver, group: str) -> str | None:
    return driver.execute_script(
        "const r = document.querySelector(`#lag tr[data-group='${arguments[0]}']`); return r && r.dataset.members;",
        group,
    )


def _lag_of(driver, group: str) -> int | None:
    value = driver.execute_script(
        "const r = document.querySelector(`#lag tr[data-group='${arguments[0]}']`); return r && r.dataset.lag;", group
    )
    return None if value is None else int(value)


def test_a_person_trades_from_the_page_and_watches_the_deal_and_the_lag(
    stack: Settings, history: str, tmp_path
) -> None:
    port = free_port()
    env = {
        "OTCDESK_QUOTE__TTL_MS": TTL_MS,
        "OTCDESK_TOPICS__PARTITIONS": "1",
        "OTCDESK_SIM_SPEED": SPEED,
        "OTCDESK_WEB__LAG_INTERVAL_S": "1",
        # /metrics of the desk's processes on ports no other test running beside it takes
        "OTCDESK_METRICS__BASE_PORT": str(free_ports(8)),
    }
    commands = {
        "desk": ["run", "all", "--speed", SPEED, "--seed", "7", "--stages", FRONT],
        "recon": ["stage", "run", "recon"],
        "web": ["web", "--port", str(port), "--database", history],
    }
    from selenium.common.exceptions import TimeoutException

    # one partition per topic: the second deal lands where recon has committed, so its lag shows
    # (a partition a group never committed on has no lag, "-", as in kafka-consumer-groups.sh)
    one = stack.model_copy(update={"topics": stack.topics.model_copy(update={"partitions": 1})})
    with namespace(one) as settings, processes(settings, commands, tmp_path, **env) as procs, chromium() as driver:
        stopped: set[str] = set()

        def alive(_driver: object = None) -> bool:
            for name, proc in procs.items():
                assert name in stopped or proc.poll() is None, f"{name} exited\n{tails(tmp_path)}"
            return True

        alive()
        url = f"http://127.0.0.1:{port}/"
        wait(driver, 60, lambda d: alive() and _opened(d, url), "the page never opened")
        wait(driver, 60, lambda d: text(d, "conn") == "live", "the page never saw the broker")
        wait(driver, 60, lambda d: "200 deals from ClickHouse" in text(d, "history-note"), "the history never came")

        _quoted(driver, tmp_path)
        first = text(driver, "countdown")
        wait(driver, 10, lambda d: text(d, "countdown") not in (first, "expired"), "the countdown does not move")
        shot(driver, "ticket")

        driver.find_element("id", "accept").click()
        wait(
            driver,
            60,
            lambda d: text(d, "outcome").startswith("trade ") or "refused" in text(d, "outcome"),
            "no answer to the accept",
        )
        assert text(driver, "outcome").startswith("trade "), text(driver, "outcome") + tails(tmp_path)
        rfq_id = driver.find_element("id", "quote").get_attribute("data-rfq")
        row = f"deal-{rfq_id}"

        def settled(d) -> bool:
            alive()
            state, recon = d.execute_script(  # the row is replaced on every update: read it in one go
                "const r = document.getElementById(arguments[0]); return r ? [r.dataset.state, r.dataset.recon] "
                ": ['', ''];",
                row,
            )
            return state == "SETTLED" and recon.startswith("MATCHED")

        try:
            wait(driver, 240, settled, "")
        except TimeoutException:
            seen = driver.find_element("id", row).text if driver.find_elements("id", row) else "no row"
            raise AssertionError(
                f"deal {rfq_id} never SETTLED and MATCHED in the blotter: {seen}\n{tails(tmp_path)}"
            ) from None
        shot(driver, "blotter")
        driver.find_element("id", row).click()
        wait(driver, 20, lambda d: "ReconResult" in d.find_element("id", "history-events").text, "no event history")
        driver.execute_script("document.getElementById('history').scrollIntoView()")
        shot(driver, "deal")
        driver.find_element("id", "deal-rfq-0").click()  # a deal of the history: its events from ClickHouse
        wait(
            driver,
            30,
            lambda d: (
                "SettlementUpdated" in d.find_element("id", "history-events").text and text(d, "history-id") == "rfq-0"
            ),
            "no event history for a deal of the ClickHouse history",
        )

        driver.find_element("id", "tab-lag").click()
        group = settings.group("recon")
        wait(driver, 60, lambda d: _lag_of(d, group) is not None, f"{group} not on the lag view")
        stopped.add("recon")
        procs["recon"].kill()
        procs["recon"].wait(30)
        driver.find_element("id", "tab-desk").click()  # a second deal: input the stopped recon does not read
        _quoted(driver, tmp_path)
        driver.find_element("id", "accept").click()
        wait(driver, 60, lambda d: text(d, "outcome").startswith("trade "), "the second deal was not booked")
        driver.find_element("id", "tab-lag").click()
        peak = wait(
            driver,
            180,
            lambda d: alive() and (_lag_of(d, group) or 0) > 0 and _lag_of(d, group),
            "the stopped stage's lag never rose",
        )
        # the group empties once the broker gives up on the killed member (its session timeout)
        wait(driver, 120, lambda d: alive() and _members(d, group) == "0", "the stopped stage kept its member")
        shot(driver, "lag")
        restart(procs, "recon", settings, commands["recon"], tmp_path, **env)
        stopped.clear()
        wait(driver, 180, lambda d: alive() and (_lag_of(d, group) or 0) < peak, "the lag never fell after the restart")

        driver.find_element("id", "tab-analytics").click()
        wait(driver, 30, lambda d: len(d.find_elements("css selector", "#report option")) > 0, "no report list")
        driver.find_element("id", "since").send_keys("yesterday-ish")
        driver.find_element("id", "run").click()
        wait(driver, 30, lambda d: text(d, "err-since").startswith("--since"), "bad input not shown by its field")
        driver.find_element("id", "since").clear()
        from selenium.webdriver.support.ui import Select

        Select(driver.find_element("id", "report")).select_by_value("inventory_pnl")
        driver.find_element("id", "run").click()
        wait(driver, 120, lambda d: text(d, "report-title").startswith("Desk inventory"), "the report never came")
        wait(
            driver,
            120,
            lambda d: d.execute_script(
                "const i = document.getElementById('report-plot'); return !i.hidden && i.complete && i.naturalWidth > 0"
            ),
            "the report's chart never came",
        )
        shot(driver, "analytics")


def _opened(driver, url: str) -> bool:
    from selenium.common.exceptions import WebDriverException

    try:
        driver.get(url)
    except WebDriverException:  # the server is still starting: poll again
        return False
    return bool(driver.find_elements("id", "ticket"))
