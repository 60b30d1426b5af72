"""The web pages over real HTTP (uvicorn on loopback), on SQLite and PostgreSQL;
the store behind them; `bhrdigest web`, `subscribers` and `unsubscribe`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from babel.dates import format_date
from click.testing import CliRunner
from smtpserver import closed_port
from webpages import forms
from webserver import FakeClock, LiveServer

from bhrdigest.cli.main import main
from bhrdigest.config.load import Config, load_config
from bhrdigest.config.preferences import Choices, split_names
from bhrdigest.model import Catalogue, Company, Subscriber
from bhrdigest.signing import check_csrf, make_csrf, make_preferences_token, make_token
from bhrdigest.store import subscribers as store
from bhrdigest.store.addresses import address_ids
from bhrdigest.web.app import Limits, create_app
from bhrdigest.web.ratelimit import RateLimiter

ROOT = Path(__file__).resolve().parents[1]
SECRET = "web-test-secret-0123456789abcdef0123456789"
LIST_ID = "weekly.bhrdigest.example.org"
CONFIG = f"""
sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  preferences_url: "https://digest.example.org/p/{{token}}"
  list_id: {LIST_ID}
feeds:
  - url: {ROOT / "samples" / "latest-news-en.xml"}
companies:
  Cellebrite:
    aliases: [Cellebrite DI]
  Nasdaq: {{}}
  Sun Corporation: {{}}
subscribers:
  - email: alex@example.org
    name: Alex
    languages: [en, ja]
    companies: [Cellebrite]
    regions: [Asia & Pacific]
    topics: [Technology & human rights]
  - email: kim@example.org
    topics: [Technology & human rights]
  - email: sam@example.org
    regions: [Americas]
"""


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "subscriptions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Site:
    client: httpx.Client
    engine: object
    config: Config
    clock: FakeClock  # rate limits
    wall: FakeClock  # form expiry, stored times

    def id_of(self, email: str) -> int:
        """The address's id in the register (given it, as a digest sent to it would)."""
        return address_ids(self.engine, [email])[email.lower()]

    def u(self, email: str) -> str:
        return f"/u/{make_token(SECRET, self.id_of(email), LIST_ID)}"

    def p(self, email: str) -> str:
        return f"/p/{make_preferences_token(SECRET, self.id_of(email), LIST_ID)}"

    def choices_form(self, email: str):
        page = self.client.get(self.p(email))
        assert page.status_code == 200, page.text
        return forms(page.text)[1]  # [0] pause/resume, [1] the choices

    def effective(self) -> dict[str, Subscriber]:
        found = store.effective_subscribers(self.engine, self.config.subscribers, self.config.catalogue)
        return {s.email: s for s in found}


@pytest.fixture
def make_site(engine, tmp_path):
    with contextlib.ExitStack() as stack:

        def make(limits: Limits | None = None, config_text: str = CONFIG) -> Site:
            config = load_config(write_config(tmp_path, config_text))
            clock, wall = FakeClock(), FakeClock(time.time())
            app = create_app(config, engine, SECRET, limits=limits or Limits(), clock=clock, wall_clock=wall)
            server = stack.enter_context(LiveServer().serve(app))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
            return Site(client, engine, config, clock, wall)

        yield make


@pytest.fixture
def site(make_site) -> Site:
    return make_site()


# --- one-click unsubscribe --------------------------------------------------------


def test_one_click_post_unsubscribes_at_once_and_again_changes_nothing(site):
    first = site.client.post(site.u("alex@example.org"), data={"List-Unsubscribe": "One-Click"})
    again = site.client.post(site.u("alex@example.org"), data={"List-Unsubscribe": "One-Click"})
    assert (first.status_code, again.status_code) == (200, 200)
    suppression = store.get_suppression(site.engine, "alex@example.org")
    assert suppression.reason == "one-click"
    assert store.load_suppressions(site.engine).keys() == {"alex@example.org"}
    assert set(site.effective()) == {"kim@example.org", "sam@example.org"}


def test_one_click_as_multipart_form_data_works_too(site):
    response = site.client.post(site.u("kim@example.org"), files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert store.get_suppression(site.engine, "kim@example.org") is not None


def test_a_link_scanners_get_unsubscribes_nobody(site):
    for _ in range(3):
        page = site.client.get(site.u("alex@example.org"))
        assert page.status_code == 200
    assert site.client.head(site.u("alex@example.org")).status_code == 200
    assert store.get_suppression(site.engine, "alex@example.org") is None
    (form,) = forms(page.text)
    assert form.method == "post" and form.action is None  # posts back to the same URL
    assert len(form.buttons) == 1
    assert form.hidden()["List-Unsubscribe"] == "One-Click"
    assert "alex@example.org" in page.text


def test_the_unsubscribe_page_button_unsubscribes_and_offers_a_way_back(site):
    (form,) = forms(site.client.get(site.u("alex@example.org")).text)
    done = site.client.post(site.u("alex@example.org"), data=form.submission())
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert store.get_suppression(site.engine, "alex@example.org").reason == "web"
    way_back = "https://digest.example.org/p/" + make_preferences_token(SECRET, site.id_of("alex@example.org"),
                                                                        LIST_ID)
    assert way_back in done.text  # the configured preferences URL
    again = site.client.get(site.u("alex@example.org"))
    assert "already unsubscribed" in again.text and forms(again.text) == []


def test_forged_or_tampered_tokens_get_the_plain_not_found_of_any_unknown_path(site):
    unknown = site.client.get("/no-such-page")
    good = make_token(SECRET, site.id_of("alex@example.org"), LIST_ID)
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    other_list = make_token(SECRET, site.id_of("alex@example.org"), "monthly.example.org")
    other_secret = make_token("another-secret-of-some-length", site.id_of("alex@example.org"), LIST_ID)
    attempts = [
        ("GET", f"/u/{tampered}"), ("POST", f"/u/{tampered}"), ("POST", f"/u/{other_list}"),
        ("POST", f"/u/{other_secret}"), ("GET", "/u/not-a-token"), ("POST", "/u/a.b"),
        ("GET", f"/p/{good}"),  # an unsubscribe token does not open the preferences page
        ("POST", site.p("alex@example.org").replace("/p/", "/u/")),  # nor the reverse
        ("GET", site.p("stranger@example.org")),  # genuine, but not a subscriber
    ]
    for method, path in attempts:
        response = site.client.request(method, path, data={"List-Unsubscribe": "One-Click"})
        assert (response.status_code, response.text, response.headers["content-type"]) == (
            404, unknown.text, unknown.headers["content-type"]), path
        assert "alex" not in response.text
    assert store.load_suppressions(site.engine) == {}


def test_one_click_from_one_mail_provider_for_many_subscribers_is_not_throttled(make_site):
    site = make_site(Limits(client_burst=1, client_per_second=0.001))
    for email in ("alex@example.org", "kim@example.org", "sam@example.org"):
        assert site.client.post(site.u(email), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert site.effective() == {}


def test_the_paths_of_the_configured_urls_are_served_and_linked(make_site):
    site = make_site(config_text=CONFIG.replace("https://digest.example.org/u/", "https://example.org/digest/stop/")
                     .replace("https://digest.example.org/p/", "https://example.org/digest/choose/"))
    token = make_token(SECRET, site.id_of("alex@example.org"), LIST_ID)
    page = site.client.get(f"/digest/stop/{token}")
    assert page.status_code == 200
    choose = "https://example.org/digest/choose/" + make_preferences_token(SECRET, site.id_of("alex@example.org"),
                                                                           LIST_ID)
    assert choose in page.text
    assert site.client.post(f"/digest/stop/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert "alex@example.org" not in site.effective()


# --- preferences ------------------------------------------------------------------


def test_preferences_page_shows_the_yaml_choices_ticked(site):
    form = site.choices_form("alex@example.org")
    assert form.ticked("company") == ["Cellebrite"]
    assert form.ticked("place") == ["Asia & Pacific"]
    assert form.ticked("topic") == ["Technology & human rights"]
    assert form.ticked("language") == ["en", "ja"]
    assert {"Africa", "Americas", "Europe & Central Asia"} <= set(form.boxes("place"))
    assert {"Labour rights", "Corporate legal accountability"} <= set(form.boxes("topic"))


def test_saved_choices_take_precedence_over_the_yaml_for_that_subscriber_only(site):
    form = site.choices_form("alex@example.org")
    data = form.submission("save", company=["Cellebrite"], add_companies="Nasdaq, sun corporation",
                           place=["Africa"], add_places="Brazil", topic=["Labour rights"], language=["en"])
    saved = site.client.post(site.p("alex@example.org"), data=data)
    assert saved.status_code == 303 and saved.headers["location"] == "?done=saved"
    page = site.client.get(site.p("alex@example.org") + "?done=saved")
    assert "Your choices are saved" in page.text
    alex, kim = site.effective()["alex@example.org"], site.effective()["kim@example.org"]
    assert alex.companies == ("Cellebrite", "Nasdaq", "Sun Corporation")
    assert alex.places == ("Africa", "Brazil")
    assert (alex.topics, alex.languages) == (("Labour rights",), ("en",))
    assert kim == site.config.subscribers[1]
    assert forms(page.text)[1].ticked("company") == ["Cellebrite", "Nasdaq", "Sun Corporation"]


def test_a_facet_left_as_in_the_yaml_keeps_following_the_yaml(site):
    form = site.choices_form("alex@example.org")
    site.client.post(site.p("alex@example.org"), data=form.submission("save", topic=["Labour rights"]))
    stored = store.get_preferences(site.engine, "alex@example.org")
    assert stored.topics == ("Labour rights",)
    assert (stored.companies, stored.places, stored.languages) == (None, None, None)
    (view,) = [v for v in store.subscriber_views(site.engine, site.config.subscribers, site.config.catalogue)
               if v.email == "alex@example.org"]
    assert view.changed_on_web == ("topics",)


def test_unknown_choices_are_named_with_a_suggestion_and_nothing_is_saved(site):
    form = site.choices_form("alex@example.org")
    data = form.submission("save", add_companies="Cellebrit", topic=["Technology & human rights", "Crypto art"])
    response = site.client.post(site.p("alex@example.org"), data=data)
    assert response.status_code == 400
    assert "unknown company &#39;Cellebrit&#39;: did you mean &#39;Cellebrite&#39;?" in response.text
    assert "unknown topic &#39;Crypto art&#39;" in response.text
    assert forms(response.text)[1].value("add_companies") == "Cellebrit"  # what was typed stays
    assert store.get_preferences(site.engine, "alex@example.org") is None


def test_an_imported_subscriber_gets_the_preferences_page_and_saves_choices(site):
    from bhrdigest.store.roster import write_roster

    assert site.client.get(site.p("ana@example.org")).status_code == 404  # listed nowhere yet
    ana = Subscriber("ana@example.org", "Ana", companies=("Nasdaq",))
    write_roster(site.engine, new=[ana], changed=[], source="import", now=datetime.now(UTC))  # while web runs
    form = site.choices_form("ana@example.org")
    assert form.ticked("company") == ["Nasdaq"]
    page = site.client.get(site.u("ana@example.org"))
    assert site.p("ana@example.org").rsplit("/", 1)[1] in page.text  # the unsubscribe page links to preferences
    saved = site.client.post(site.p("ana@example.org"), data=form.submission("save", company=["Cellebrite"]))
    assert saved.status_code == 303, saved.text
    assert site.effective()["ana@example.org"].companies == ("Cellebrite",)


def test_following_nothing_is_refused_with_a_pointer_to_pausing(site):
    form = site.choices_form("kim@example.org")
    response = site.client.post(site.p("kim@example.org"), data=form.submission("save", topic=[]))
    assert response.status_code == 400 and "or pause your digest instead" in response.text
    assert site.effective()["kim@example.org"].topics == ("Technology & human rights",)


def test_pausing_stops_the_digest_and_resuming_restarts_it(site):
    (state, _) = forms(site.client.get(site.p("sam@example.org")).text)
    paused = site.client.post(site.p("sam@example.org"), data=state.submission("pause"))
    assert paused.status_code == 303
    assert "sam@example.org" not in site.effective()
    (state, _) = forms(site.client.get(site.p("sam@example.org") + "?done=paused").text)
    assert [b["value"] for b in state.buttons] == ["resume"]
    site.client.post(site.p("sam@example.org"), data=state.submission("resume"))
    assert site.effective()["sam@example.org"].places == ("Americas",)


def test_an_unsubscribed_subscriber_can_subscribe_again_from_the_preferences_page(site):
    site.client.post(site.u("kim@example.org"), data={"List-Unsubscribe": "One-Click"})
    (state, _) = forms(site.client.get(site.p("kim@example.org")).text)
    assert [b["value"] for b in state.buttons] == ["resubscribe"]
    site.client.post(site.p("kim@example.org"), data=state.submission("resubscribe"))
    assert "kim@example.org" in site.effective()


def test_a_post_without_this_subscribers_fresh_form_token_is_refused(site):
    alex = site.choices_form("alex@example.org").submission("save", topic=["Labour rights"])
    kims_token = site.choices_form("kim@example.org").hidden()["csrf"]
    refused = [
        {k: v for k, v in alex.items() if k != "csrf"},
        {**alex, "csrf": kims_token},
        {**alex, "csrf": alex["csrf"][:-2] + "xx"},
    ]
    for data in refused:
        response = site.client.post(site.p("alex@example.org"), data=data)
        assert response.status_code == 403 and "Nothing was saved" in response.text
    other_site = site.client.post(site.p("alex@example.org"), data=alex,
                                  headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    site.wall.advance(13 * 3600)  # the form was left open overnight
    assert site.client.post(site.p("alex@example.org"), data=alex).status_code == 403
    assert store.get_preferences(site.engine, "alex@example.org") is None


def test_a_same_origin_post_is_accepted(site):
    data = site.choices_form("alex@example.org").submission("save", topic=["Labour rights"])
    origin = str(site.client.base_url).rstrip("/")
    response = site.client.post(site.p("alex@example.org"), data=data, headers={"Origin": origin})
    assert response.status_code == 303


def test_pages_are_rate_limited_per_subscriber_and_recover(make_site):
    site = make_site(Limits(subscriber_burst=3, subscriber_per_second=0.1))
    statuses = [site.client.get(site.p("alex@example.org")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = site.client.get(site.p("alex@example.org"))
    assert limited.headers["retry-after"] == "10"
    assert site.client.get(site.p("kim@example.org")).status_code == 200
    site.clock.advance(10)
    assert site.client.get(site.p("alex@example.org")).status_code == 200


def test_guessing_tokens_is_throttled_per_client(make_site):
    site = make_site(Limits(client_burst=5, client_per_second=0.01))
    statuses = [site.client.get(f"/p/guess{i}.AAAAAAAAAAAAAAAAAAAAAA").status_code for i in range(6)]
    assert statuses == [404] * 5 + [429]


def test_pages_forbid_framing_leaking_the_token_and_caching(site):
    page = site.client.get(site.p("alex@example.org"))
    assert page.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    style = re.search(r"<style>(.*?)</style>", page.text, re.S).group(1)
    allowed = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{allowed}'" in page.headers["content-security-policy"]
    assert "script" not in page.headers["content-security-policy"]


def test_healthz_answers_the_platform(site):
    response = site.client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_the_request_log_never_holds_a_token(site, caplog):
    caplog.set_level(logging.INFO, logger="bhrdigest")
    token = make_token(SECRET, site.id_of("alex@example.org"), LIST_ID)
    site.client.get(f"/u/{token}")
    site.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /u/{token} 200" in logged
    assert token not in logged and "alex" not in logged


# --- the rules behind the pages -----------------------------------------------------


def test_a_token_bucket_allows_a_burst_then_the_steady_rate():
    clock = FakeClock()
    limiter = RateLimiter(burst=2, per_second=0.5, clock=clock)
    assert [limiter.take("a"), limiter.take("a")] == [0, 0]
    assert limiter.take("a") == pytest.approx(2.0)
    assert limiter.take("b") == 0
    clock.advance(2)
    assert limiter.take("a") == 0


def test_a_token_bucket_forgets_idle_keys_to_bound_memory():
    clock = FakeClock()
    limiter = RateLimiter(burst=1, per_second=1, clock=clock, max_keys=100)
    for i in range(1_000):
        limiter.take(i)
        clock.advance(0.01)
    assert len(limiter._buckets) <= 100
    assert limiter.take(999) > 0  # the most recent client is still remembered


def test_form_tokens_are_bound_to_their_subject_and_expire():
    token = make_csrf(SECRET, "alex", now=1000)
    assert check_csrf(SECRET, "alex", token, now=1000 + 3600)
    assert not check_csrf(SECRET, "kim", token, now=1000)
    assert not check_csrf("other-secret", "alex", token, now=1000)
    assert not check_csrf(SECRET, "alex", token, now=1000 + 13 * 3600)
    assert not check_csrf(SECRET, "alex", None, now=1000)


def test_choices_accept_aliases_and_a_known_name_with_a_comma():
    catalogue = Catalogue(companies=(Company("Acme, Inc.", ("Acme",)), Company("Cellebrite", ("Cellebrite DI",))))
    choices = Choices(catalogue)
    typed = split_names("Acme, Inc.\ncellebrite di, ACME", choices.company)
    assert typed == ["Acme, Inc.", "cellebrite di", "ACME"]
    selection = choices.select(companies=typed, places=["united states", "hong kong"], topics=["labour rights"],
                               languages=["EN"])
    assert selection.problems == ()
    assert selection.companies == ("Acme, Inc.", "Cellebrite")
    assert selection.places == ("USA", "Hong Kong")
    assert (selection.topics, selection.languages) == (("Labour rights",), ("en",))


def test_stored_choices_the_catalogue_has_since_dropped_are_ignored(engine):
    old = Catalogue(companies=(Company("Cellebrite"), Company("Nasdaq")))
    yaml_alex = Subscriber("alex@example.org", companies=("Cellebrite",))
    store.save_preferences(engine, "alex@example.org", companies=["Cellebrite", "Nasdaq"], places=None,
                           topics=None, languages=None, now=datetime.now(UTC))
    assert store.effective_subscribers(engine, [yaml_alex], old)[0].companies == ("Cellebrite", "Nasdaq")
    new = Catalogue(companies=(Company("Cellebrite"),))
    assert store.effective_subscribers(engine, [yaml_alex], new)[0].companies == ("Cellebrite",)


# --- the commands ---------------------------------------------------------------------


@pytest.fixture
def cli(database_url, tmp_path):
    env = {"BHRDIGEST_CONFIG": str(write_config(tmp_path)), "DATABASE_URL": database_url,
           "BHRDIGEST_SECRET": "", "DYNO": ""}

    def invoke(*args: str, extra_env: dict | None = None):
        return CliRunner().invoke(main, list(args), env=env | (extra_env or {}), catch_exceptions=False)

    created = invoke("db", "upgrade")
    assert created.exit_code == 0, created.output
    invoke.env = env
    return invoke


def test_unsubscribe_by_staff_is_idempotent_and_shows_in_the_merged_view(cli, database_url):
    first = cli("unsubscribe", "Sam@Example.org")
    again = cli("unsubscribe", "sam@example.org")
    assert first.exit_code == 0 and "sam@example.org: unsubscribed" in first.output
    assert "still in" in first.output  # staff are told to tidy the YAML
    assert again.exit_code == 0 and "already unsubscribed" in again.output and "(staff)" in again.output
    cli("unsubscribe", "gone@example.org")
    lines = [json.loads(line) for line in cli("subscribers", "--json").output.splitlines()]
    by_email = {line["email"]: line for line in lines}
    assert [line["email"] for line in lines] == [
        "alex@example.org", "kim@example.org", "sam@example.org", "gone@example.org"]
    assert by_email["sam@example.org"]["status"] == "unsubscribed"
    assert by_email["sam@example.org"]["unsubscribe_reason"] == "staff"
    assert by_email["gone@example.org"]["in_yaml"] is False and by_email["gone@example.org"]["source"] is None
    assert by_email["alex@example.org"]["status"] == "active"
    assert by_email["alex@example.org"]["companies"] == ["Cellebrite"]
    text = cli("subscribers").output
    assert (
        "4 addresses: 2 active, 0 paused, 2 unsubscribed; 3 in subscriptions.yaml, 0 in the database, 1 listed nowhere"
        in text
    )
    undo = cli("unsubscribe", "--undo", "sam@example.org")
    assert "lifted" in undo.output
    assert json.loads(cli("subscribers", "--json").output.splitlines()[2])["status"] == "active"


def test_unsubscribe_refuses_what_is_not_an_address(cli):
    result = cli("unsubscribe", "sam.example.org")
    assert result.exit_code == 1 and "must look like name@domain" in result.output


def test_web_needs_the_signing_secret(cli):
    result = cli("web")
    assert result.exit_code == 1 and "BHRDIGEST_SECRET is not set" in result.output


def test_web_listens_on_port_and_stops_cleanly_on_sigterm(cli):
    port = closed_port()  # free: nothing listens there yet
    env = {**os.environ, **cli.env, "BHRDIGEST_SECRET": SECRET, "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "bhrdigest", "web", "--host", "127.0.0.1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, answer = time.monotonic() + 20, None
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            time.sleep(0.05)
        assert answer is not None and answer.text == "ok", process.stdout.read1().decode() if answer is None else ""
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert f"listening on 127.0.0.1:{port}" in output


# --- the subscriber's language ------------------------------------------------------------

MULTILINGUAL = CONFIG + """  - email: ana@example.org
    languages: [es, en]
    companies: [Cellebrite]
  - email: claire@example.org
    name: Claire
    languages: [fr]
    companies: [Cellebrite]
"""


def test_unsubscribe_pages_speak_the_subscribers_first_language(make_site):
    site = make_site(config_text=MULTILINGUAL)
    page = site.client.get(site.u("ana@example.org"))
    assert '<html lang="es" dir="ltr">' in page.text
    assert "¿Dejar de enviar el boletín semanal a <strong>ana@example.org</strong>?" in page.text
    (form,) = forms(page.text)
    done = site.client.post(site.u("ana@example.org"), data=form.submission())
    assert "Se ha dado de baja" in done.text and "no recibirá más boletines" in done.text
    assert "Stop the weekly digest" in site.client.get(site.u("sam@example.org")).text  # English reader


def test_the_preferences_page_and_its_notices_follow_the_chosen_first_language(make_site):
    site = make_site(config_text=MULTILINGUAL)
    page = site.client.get(site.p("claire@example.org"))
    assert '<html lang="fr" dir="ltr">' in page.text
    assert "<h1>Votre lettre hebdomadaire</h1>" in page.text and "Pour Claire &lt;claire@example.org&gt;" in page.text
    form = forms(page.text)[1]
    saved = site.client.post(site.p("claire@example.org"), data=form.submission(language=["es", "fr"]),
                             follow_redirects=True)
    assert saved.status_code == 200, saved.text
    assert "Sus opciones se han guardado" in saved.text  # Spanish now leads her languages


def test_an_unsubscribed_readers_page_gives_the_date_in_their_language(make_site):
    site = make_site(config_text=MULTILINGUAL)
    site.client.post(site.u("claire@example.org"))
    page = site.client.get(site.p("claire@example.org"))
    day = format_date(datetime.fromtimestamp(site.wall(), UTC), "long", locale="fr")  # "3 décembre 2026"
    assert f"Vous vous êtes désabonné le {day} : aucune lettre ne vous est envoyée." in page.text


def test_a_refused_choice_is_explained_in_the_readers_language(make_site):
    site = make_site(config_text=MULTILINGUAL)
    form = forms(site.client.get(site.p("ana@example.org")).text)[1]
    response = site.client.post(site.p("ana@example.org"), data=form.submission(add_companies="Cellebrit"))
    assert response.status_code == 400
    assert "empresa desconocida: &#39;Cellebrit&#39;. ¿Quiso decir &#39;Cellebrite&#39;?" in response.text
    assert "No se guardó nada" in response.text
