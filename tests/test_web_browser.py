"""The preferences page in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver (built from the same source as the browser, so the two
always match; nothing is downloaded).

Set BHRDIGEST_SCREENSHOT=docs/preferences.png to keep the screenshot of the page.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from test_web import SECRET, write_config
from webserver import LiveServer

from bhrdigest.config.load import load_config
from bhrdigest.signing import make_preferences_token
from bhrdigest.store import subscribers as store
from bhrdigest.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1000,1400"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_subscriber_changes_a_topic_in_the_browser_and_saves(browser, engine, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    config = load_config(write_config(tmp_path))
    token = make_preferences_token(SECRET, "alex@example.org", config.sender.list_id)
    with LiveServer().serve(create_app(config, engine, SECRET)) as server:
        browser.get(f"{server.url}/p/{token}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Your weekly digest"
        technology = browser.find_element(By.CSS_SELECTOR, "input[name=topic][value='Technology & human rights']")
        labour = browser.find_element(By.CSS_SELECTOR, "input[name=topic][value='Labour rights']")
        assert technology.is_selected() and not labour.is_selected()

        technology.click()
        labour.click()
        browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()

        notice = WebDriverWait(browser, 10).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
        assert notice.text == "Your choices are saved. The next digest follows them."
        assert browser.find_element(By.CSS_SELECTOR, "input[name=topic][value='Labour rights']").is_selected()
        assert not browser.find_element(
            By.CSS_SELECTOR, "input[name=topic][value='Technology & human rights']").is_selected()
        keep_screenshot(browser, tmp_path)

    (alex,) = [s for s in store.effective_subscribers(engine, config.subscribers, config.catalogue)
               if s.email == "alex@example.org"]
    assert alex.topics == ("Labour rights",)
    assert alex.companies == ("Cellebrite",)  # untouched facets still follow the YAML


def keep_screenshot(browser, tmp_path: Path) -> None:
    """The whole page, not just the window (Chromium's DevTools protocol)."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True, "clip": clip})
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    (tmp_path / "preferences.png").write_bytes(png)
    if target := os.environ.get("BHRDIGEST_SCREENSHOT"):
        Path(target).write_bytes(png)
