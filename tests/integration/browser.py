"""A real browser for the web edge's tests: Debian's Chromium, headless, driven by selenium through Debian's
chromedriver (started and stopped by selenium, by process id). Screenshots of each page go to $DANBAO_SCREENS_DIR
(`make screens`: docs/screens/) or .danbao/screens/."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
# Each run saves every page; `make screens` saves them where the README shows them (docs/screens), a plain test
# run into the ignored data folder, so the committed images change only when asked to.
SCREENS = Path(os.environ.get("DANBAO_SCREENS_DIR") or ROOT / ".danbao" / "screens")
PHONE_SIZE = (412, 915)
DESK_SIZE = (1280, 900)


def chromium(size: tuple[int, int], lang: str = "zh-CN") -> WebDriver:
    """A headless Chromium of ``size`` (CSS pixels). Fails, never skips, when Chromium or its driver is missing:
    `.ci/run` installs them (apt-get install chromium chromium-driver)."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                     f"--window-size={size[0]},{size[1]}", f"--lang={lang}", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    return webdriver.Chrome(service=Service(driver), options=options)


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page (beyond the window) as <SCREENS>/<name>.png."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path = SCREENS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


# The order page replaces its live region while the test reads it: an element read a moment ago may be gone.
TRANSIENT = (NoSuchElementException, StaleElementReferenceException)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 60.0, what: str = "") -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.3, ignored_exceptions=TRANSIENT).until(condition)
    except TimeoutException as exc:  # say what the page showed
        body = driver.find_element(By.TAG_NAME, "body").text[:1500] if driver.find_elements(By.TAG_NAME, "body") else ""
        raise AssertionError(f"waited {timeout}s for {what or condition} on {driver.current_url}:\n{body}") from exc


def element(driver: WebDriver, element_id: str, timeout: float = 60.0) -> WebElement:
    return wait(driver, lambda d: (d.find_elements(By.ID, element_id) or [None])[0], timeout, f"#{element_id}")


def status_of(driver: WebDriver, element_id: str = "status") -> str | None:
    found = driver.find_elements(By.ID, element_id)
    return found[0].get_attribute("data-status") if found else None


def until_status(driver: WebDriver, wanted: str, element_id: str = "status", timeout: float = 60.0) -> None:
    """The live region (polled by the page itself) reaches ``wanted``."""
    wait(driver, lambda d: status_of(d, element_id) == wanted, timeout, f"#{element_id} = {wanted}")


def reload_until(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Reload the page until ``condition`` holds (pages without a live region)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition(driver)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s of reloading {driver.current_url}, no {what}:\n"
                                 + driver.find_element(By.TAG_NAME, "body").text[:1500])
        time.sleep(1.0)
        driver.refresh()


def fill(driver: WebDriver, element_id: str, text: str) -> None:
    field = element(driver, element_id)
    field.clear()
    field.send_keys(text)


def click(driver: WebDriver, element_id: str) -> None:
    """Click it; if the live region replaced it in between, click the new one."""
    def clicked(d: WebDriver) -> bool:
        element(d, element_id).click()
        return True
    wait(driver, clicked, what=f"a click on #{element_id}")


def sms_code(messaging_url: str, phone: str, timeout: float = 30.0) -> str:
    """The sign-in code the messaging simulator (the SMS gateway) received for ``phone``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{messaging_url}/sms/messages", timeout=5) as response:  # noqa: S310 - loopback
            messages = [m for m in json.loads(response.read()) if m.get("to") == phone and "SIGNIN-" in m.get("message_id", "")]
        if messages:
            found = re.search(r"(\d{6})", messages[-1]["text"])
            assert found, messages[-1]
            return found.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no sign-in SMS in {timeout}s")


def cookies_of(driver: WebDriver) -> dict[str, str]:
    return {c["name"]: c["value"] for c in driver.get_cookies()}
