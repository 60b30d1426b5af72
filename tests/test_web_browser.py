"""The preferences page and the digests in a real browser: Debian's headless Chromium,
driven by Selenium through Debian's chromedriver (built from the same source as the
browser, so the two always match; nothing is downloaded).

Accessibility: axe-core (pinned in tests/a11y/package.json, installed by .ci/run with
`npm ci --prefix tests/a11y`) runs inside the page; a digest in each shipped language, an
Arabic-item digest and the web pages must have no violation at all (the issue asks for no
serious or critical one; the rest are clean too, and stay so).

Set BHRDIGEST_SCREENSHOT=docs/preferences.png to keep the screenshot of the page, and
BHRDIGEST_SCREENSHOTS=docs/screenshots to keep the digests' at 600 and 375 px.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import json
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_digests import PREFERENCES, TEMPLATES, UNSUBSCRIBE, component, realistic_digest
from test_web import MULTILINGUAL, SECRET, write_config
from webpages import forms
from webserver import LiveServer

from bhrdigest.bundled import bundled_path
from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.digest.build import build_digest
from bhrdigest.digest.match import Match, Reason
from bhrdigest.digest.render import DigestRenderer
from bhrdigest.digest.views import Mailbox
from bhrdigest.model import Kind, Subscriber
from bhrdigest.signing import make_preferences_token, make_token
from bhrdigest.store import subscribers as store
from bhrdigest.store.addresses import address_ids
from bhrdigest.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
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
    token = make_preferences_token(SECRET, address_ids(engine, ["alex@example.org"])["alex@example.org"],
                                   config.sender.list_id)
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


def keep_screenshot(browser, tmp_path: Path, name: str = "preferences.png") -> None:
    """The whole page, not just the window (Chromium's DevTools protocol)."""
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True, "clip": clip})
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    (tmp_path / name).write_bytes(png)
    if name == "preferences.png" and (target := os.environ.get("BHRDIGEST_SCREENSHOT")):
        Path(target).write_bytes(png)
    if name.startswith("digest-") and (folder := os.environ.get("BHRDIGEST_SCREENSHOTS")):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


# --- accessibility (axe-core) and the digests' screenshots --------------------------------------

needs_axe = pytest.mark.skipif(not AXE.exists(), reason="needs axe-core: npm ci --prefix tests/a11y (.ci/run does)")
MAILBOX = Mailbox(reply_to=True, postal_address="Business & Human Rights Resource Centre, London, UK",
                  privacy_url="https://www.example.org/privacy", view_url="https://www.example.org/weekly-update")


def axe_violations(browser, impacts: tuple[str, ...] = ("minor", "moderate", "serious", "critical")) -> list[str]:
    """axe-core's violations of the page in `browser` with one of `impacts`, one line each."""
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    browser.set_script_timeout(60)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)),"
        " e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));"
    )
    found = json.loads(result)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in impacts]


def digest_in(language: str):
    """The golden file's digest (Alex's week) for a reader whose first language is `language`."""
    digest = realistic_digest()
    languages = (language, "en") if language != "en" else ("en", "ja")
    return dataclasses.replace(digest, subscriber=dataclasses.replace(digest.subscriber, languages=languages))


def arabic_digest():
    """Arabic items, as the Arabic site publishes them, for a reader who reads Arabic first."""
    reader = Subscriber(email="samir@example.org", name="سمير", languages=("ar", "en"), companies=("Cellebrite",),
                        places=("Middle East & North Africa",))  # fmt: skip
    company, place = Reason("company", "Cellebrite"), Reason("place", "Middle East & North Africa")
    items = [
        component("ar-response", "رد شركة سيليبرايت", language="ar", kind=Kind.COMPANY_RESPONSE,
                  author="سيليبرايت", published=datetime(2021, 8, 2, tzinfo=UTC),
                  excerpt_text="قالت الشركة إنها لا تبيع منتجاتها إلى المناطق الخاضعة للعقوبات الأمريكية."),
        component("ar-story", "إسرائيل: ناشطون يطالبون سيليبرايت بوقف تصدير التكنولوجيا إلى شرطة هونغ كونغ",
                  language="ar", author="جيروزاليم بوست", source_title="ناشطون من هونغ كونغ إلى إسرائيل",
                  published=datetime(2020, 8, 10, tzinfo=UTC),
                  excerpt_text="انضم الناشط جوشوا وونغ إلى دعوة لمنع شركة تكنولوجيا مدنية من بيع منتجاتها.\n\n"
                               "وقال إن برنامجاً طورته شركة إسرائيلية استُخدم لاختراق هاتفه."),
        component("en-story", "Israel: Cellebrite says it does not sell to areas sanctioned by US",
                  published=datetime(2020, 8, 9, tzinfo=UTC), excerpt_text="An English item among Arabic ones."),
    ]  # fmt: skip
    return build_digest(reader, [Match(items[0], (company,)), Match(items[1], (company, place)),
                                 Match(items[2], (place,))], max_items=10)  # fmt: skip


DIGESTS = {"en": lambda: digest_in("en"), "es": lambda: digest_in("es"), "fr": lambda: digest_in("fr"),
           "arabic-items": arabic_digest}


@needs_axe
@pytest.mark.parametrize("name", DIGESTS)
def test_a_digest_has_no_accessibility_violation_and_fits_phones(browser, tmp_path, name):
    rendered = DigestRenderer(TEMPLATES).render(DIGESTS[name](), unsubscribe_url=UNSUBSCRIBE,
                                                preferences_url=PREFERENCES, mailbox=MAILBOX)
    page = tmp_path / f"digest-{name}.html"
    page.write_text(rendered.html, encoding="utf-8")
    browser.get(page.as_uri())
    assert axe_violations(browser) == []
    browser.execute_cdp_cmd("Emulation.setScrollbarsHidden", {"hidden": True})
    for width in (600, 375):
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
        browser.get(page.as_uri())
        scroll_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{name} at {width} px scrolls sideways ({scroll_width} px)"
        keep_screenshot(browser, tmp_path, f"digest-{name}-{width}.png")
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@needs_axe
def test_the_web_pages_have_no_accessibility_violation(browser, engine, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    config = load_config(write_config(tmp_path, MULTILINGUAL))
    with LiveServer().serve(create_app(config, engine, SECRET)) as server:
        for email in ("alex@example.org", "claire@example.org"):
            token = make_preferences_token(SECRET, address_ids(engine, [email])[email], config.sender.list_id)
            browser.get(f"{server.url}/p/{token}")
            assert axe_violations(browser) == [], f"preferences page of {email}"
        ana = address_ids(engine, ["ana@example.org"])["ana@example.org"]
        unsubscribe = f"{server.url}/u/{make_token(SECRET, ana, config.sender.list_id)}"
        browser.get(unsubscribe)
        assert axe_violations(browser) == [], "unsubscribe page"
        assert len(forms(browser.page_source)) == 1
        browser.find_element("css selector", "button.primary").click()
        WebDriverWait(browser, 10).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Se ha dado de baja"))
        assert axe_violations(browser) == [], "unsubscribed page"


@needs_axe
def test_axe_reports_a_planted_contrast_failure(browser, tmp_path):
    """The check above can fail: pale grey "Why" lines are a serious violation."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates, ignore=shutil.ignore_patterns("web"))
    css = templates / "digest.css"
    css.write_text(css.read_text(encoding="utf-8").replace(
        ".why { margin: 0; font-size: 13px; line-height: 19px; color: #595959; }",
        ".why { margin: 0; font-size: 13px; line-height: 19px; color: #dddddd; }"), encoding="utf-8")
    rendered = DigestRenderer(templates).render(digest_in("en"), unsubscribe_url=UNSUBSCRIBE,
                                                preferences_url=PREFERENCES)
    page = tmp_path / "pale.html"
    page.write_text(rendered.html, encoding="utf-8")
    browser.get(page.as_uri())
    assert any(v.startswith("color-contrast (serious)") for v in axe_violations(browser, ("serious",)))


# --- sign-up, from the form to the first digest ---------------------------------------------


def test_a_reader_signs_up_in_the_browser_confirms_by_email_and_gets_the_first_digest(browser, database_url,
                                                                                          tmp_path):
    """The whole double opt-in: the form, the confirmation email read from the SMTP sink, its
    link opened in the browser, then `send` mails that reader their first digest."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait
    from smtpserver import SmtpServer
    from test_web_e2e import SAMPLE

    from bhrdigest.signup.notices import NoticeComposer, NoticeDelivery, open_sender
    from bhrdigest.store.db import connect

    web = LiveServer()
    config_path = tmp_path / "subscriptions.yaml"
    config_path.write_text(f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "{web.url}/u/{{token}}"
  preferences_url: "{web.url}/p/{{token}}"
  list_id: weekly.bhrdigest.example.org
feeds:
  - url: {SAMPLE}
companies:
  Cellebrite: {{}}
subscribers:
  - email: alex@example.org
    regions: [Americas]
""", encoding="utf-8")
    config = load_config(config_path)
    engine = connect(database_url, create=True)
    with SmtpServer() as smtp:
        smtp_url = f"smtp+plain://127.0.0.1:{smtp.port}"
        env = {"BHRDIGEST_CONFIG": str(config_path), "DATABASE_URL": database_url, "BHRDIGEST_SECRET": SECRET,
               "SMTP_URL": smtp_url, "TELEGRAM_BOT_TOKEN": "", "DYNO": ""}
        delivery = NoticeDelivery(engine, NoticeComposer(config, SECRET, bundled_path("templates/notices")),
                                  lambda: open_sender(smtp_url, tmp_path / "outbox"))
        with web.serve(create_app(config, engine, SECRET, deliver_notices=delivery)):
            # 1. The form, accessible and usable on a phone.
            browser.get(f"{web.url}/signup")
            assert browser.find_element(By.TAG_NAME, "h1").text == "Subscribe to the weekly digest"
            if AXE.exists():
                assert axe_violations(browser) == [], "sign-up page"
            assert_fits(browser, f"{web.url}/signup", 375)
            if AXE.exists():
                browser.get(f"{web.url}/signup/confirm/1.1800000000.AAAAAAAAAAAAAAAAAAAAAA")
                assert axe_violations(browser) == [], "broken-link page"
                browser.get(f"{web.url}/signup")
                browser.find_element(By.ID, "email").send_keys("rosa@example.net")
                browser.find_element(By.CSS_SELECTOR, "button.primary").click()  # nothing chosen: refused
                WebDriverWait(browser, 10).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".problems")))
                assert axe_violations(browser) == [], "sign-up page with problems"
                browser.get(f"{web.url}/signup")
            browser.find_element(By.ID, "email").send_keys("Rosa@Example.net")
            browser.find_element(By.ID, "name").send_keys("Rosa")
            browser.find_element(By.ID, "add_companies").send_keys("Cellebrite")
            browser.find_element(By.CSS_SELECTOR, "input[name=topic][value='Technology & human rights']").click()
            browser.find_element(By.CSS_SELECTOR, "button.primary").click()
            WebDriverWait(browser, 10).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"),
                                                                                 "Check your inbox"))
            if AXE.exists():
                assert axe_violations(browser) == [], "check-your-inbox page"

            # 2. The confirmation email arrives; its link, opened in the browser, confirms.
            confirmation = wait_for_mail(smtp, 1)[0]
            assert confirmation["To"].addresses[0].addr_spec == "rosa@example.net"
            (link,) = re.findall(rf"{re.escape(web.url)}/signup/confirm/\S+",
                                 confirmation.get_body(("plain",)).get_content())
            email_page = tmp_path / "confirmation.html"
            email_page.write_text(confirmation.get_body(("html",)).get_content(), encoding="utf-8")
            if AXE.exists():
                browser.get(email_page.as_uri())
                assert axe_violations(browser) == [], "confirmation email"
            assert_fits(browser, email_page.as_uri(), 375)
            browser.get(link)
            if AXE.exists():
                assert axe_violations(browser) == [], "confirmation page"
            browser.find_element(By.CSS_SELECTOR, "button.primary").click()
            WebDriverWait(browser, 10).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"),
                                                                                 "You are subscribed"))
            if AXE.exists():
                assert axe_violations(browser) == [], "confirmed page"
            welcome = wait_for_mail(smtp, 2)[1]
            assert welcome["Subject"] == "Welcome to the weekly digest"

        # 3. The next `send` mails Rosa her first digest, with the company she chose.
        for command in (["fetch"], ["send", "--yes"]):
            result = CliRunner().invoke(main, command, env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
        digests = [m for m in wait_for_mail(smtp, 3) if m["To"].addresses[0].addr_spec == "rosa@example.net"
                   and m["Message-ID"].startswith("<digest-")]
        assert len(digests) == 1
        assert "Cellebrite" in digests[0].get_body(("plain",)).get_content()
    engine.dispose()


def wait_for_mail(smtp, count: int) -> list:
    deadline = time.monotonic() + 10
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [email.message_from_bytes(m.content, policy=email.policy.default) for m in smtp.messages]


def assert_fits(browser, url: str, width: int) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    browser.get(url)
    scroll_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{url} at {width} px scrolls sideways ({scroll_width} px)"
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.get(url)
