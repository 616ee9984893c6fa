"""Debian's headless Chromium driven by Selenium (chromium-driver), for the web page's tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port

__all__ = ["chromium", "free_port", "shot", "text", "wait"]

#: Where `shot` saves the views: docs/screenshots when OTCDESK_SCREENSHOTS=1 (to refresh the
#: pictures the docs show), a scratch directory otherwise, so a test run leaves the checkout as it was.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("OTCDESK_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "otcdesk-screenshots"
)


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path, browser = shutil.which("chromedriver"), shutil.which("chromium")
    if not driver_path or not browser:
        pytest.fail(
            "chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver; "
            "infra/install.sh installs them)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, timeout_s: float, until: Callable[[Any], Any], what: str) -> Any:
    """Bounded polling of the page (WebDriverWait): the value `until` returns once truthy."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.3).until(until, message=what)


def text(driver: Any, element_id: str) -> str:
    return str(driver.execute_script(f"return document.getElementById('{element_id}').textContent"))


def shot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
