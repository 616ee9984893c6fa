"""`otcdesk web` through a broker restart: the page says the broker is gone while it is, and the
blotter resumes once it is back, without a reload.

The broker is the throwaway SASL/SCRAM one (`scram_broker`, conftest): the shared stack's broker is
never stopped by a test.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from otcdesk.events import Quote
from otcdesk.kafka import EventProducer
from tests.integration.browser import chromium, free_port, text, wait
from tests.integration.desk import namespace, processes, tails
from tests.integration.scram_broker import ScramBroker
from tests.samples import sample_events

pytestmark = pytest.mark.integration


def _banner(driver) -> bool:
    return not driver.execute_script("return document.getElementById('banner').hidden")


def test_the_page_shows_a_broker_restart_and_resumes_after_it(scram_broker: ScramBroker, tmp_path) -> None:
    port = free_port()
    quote = next(e for e in sample_events() if isinstance(e, Quote))
    with (
        namespace(scram_broker.settings()) as settings,
        processes(
            settings, {"web": ["web", "--port", str(port), "--history", "0"]}, tmp_path, **scram_broker.env()
        ) as procs,
        chromium() as driver,
    ):

        def opened(d) -> bool:
            from selenium.common.exceptions import WebDriverException

            assert procs["web"].poll() is None, tails(tmp_path)
            try:
                d.get(f"http://127.0.0.1:{port}/")
            except WebDriverException:  # still starting
                return False
            return bool(d.find_elements("id", "ticket"))

        wait(driver, 60, opened, "the page never opened")
        wait(driver, 60, lambda d: text(d, "conn") == "live" and not _banner(d), "the page never saw the broker")

        scram_broker.stop()
        wait(driver, 60, _banner, "no banner while the broker is down")
        assert text(driver, "conn") == "broker down"

        scram_broker.restart()
        wait(driver, 90, lambda d: not _banner(d) and text(d, "conn") == "live", "the banner stayed after the restart")
        rfq_id = str(uuid.uuid4())
        with EventProducer(settings) as producer:
            producer.produce(dataclasses.replace(quote, rfq_id=rfq_id, ts_us=quote.ts_us))
        wait(driver, 60, lambda d: d.find_elements("id", f"deal-{rfq_id}"), "the blotter did not resume")
        assert procs["web"].poll() is None, tails(tmp_path)
