import os
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bhrdigest.digest.build import build_digest
from bhrdigest.digest.mailhtml import inline_template, premailer_inline
from bhrdigest.digest.match import Match, Matcher, Reason
from bhrdigest.digest.message import build_message
from bhrdigest.digest.render import MAX_ENCODED_BYTES, DigestRenderer, _entries, _message_size
from bhrdigest.digest.views import Mailbox
from bhrdigest.errors import ConfigError
from bhrdigest.model import Component, Kind, PlaceOrigin, Subscriber, Translation
from bhrdigest.signing import make_token

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
GOLDEN = Path(__file__).resolve().parent / "golden"
SITE = "https://www.business-humanrights.org"
UNSUBSCRIBE = "https://digest.example.org/u/TOKEN"
PREFERENCES = "https://digest.example.org/p/TOKEN"


def component(key, title=None, **extra):
    fields = {
        "key": key,
        "url": f"{SITE}/en/latest-news/{key}/",
        "title": title or f"Title {key}",
        "language": "en",
        "published": datetime(2024, 5, 1, tzinfo=UTC),
        "author": "Example Monitor",
        "source_title": None,
        "source_date": None,
        "excerpt_html": "",
        "excerpt_text": "",
        "kind": Kind.ARTICLE,
    }
    return Component(**(fields | extra))


COMPANY = Reason("company", "Cellebrite")
PLACE = Reason("place", "Hong Kong")
TOPIC = Reason("topic", "Technology & human rights")
ALEX = Subscriber(
    email="alex@example.org",
    name="Alex",
    languages=("en", "ja"),
    companies=("Cellebrite",),
    places=("Hong Kong",),
    topics=("Technology & human rights",),
)


@pytest.fixture(scope="module")
def renderer():
    return DigestRenderer(TEMPLATES)


def render(renderer, digest):
    return renderer.render(
        digest, unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES
    )


def one_item_digest(item, subscriber=ALEX, reasons=(COMPANY,)):
    return build_digest(subscriber, [Match(item, reasons)], max_items=10)


# ------------------------------------------------------------------ grouping


def test_company_response_leads_then_companies_places_topics_each_once():
    article = component("article", companies=("Cellebrite",))
    response = component("response", kind=Kind.COMPANY_RESPONSE)
    place_and_topic = component("hk")
    topic_only = component("topic")
    digest = build_digest(
        ALEX,
        [
            Match(article, (COMPANY,)),
            Match(place_and_topic, (PLACE, TOPIC)),
            Match(response, (COMPANY,)),
            Match(topic_only, (TOPIC,)),
        ],
        max_items=10,
    )
    assert digest.lead.component.key == "response"
    assert [(s.title, [m.component.key for m in s.items]) for s in digest.sections] == [
        ("Your companies", ["article"]),
        ("Your places", ["hk"]),
        ("Your topics", ["topic"]),
    ]
    assert digest.more_count == 0


def test_without_a_response_the_broadest_match_leads():
    narrow = component("narrow", published=datetime(2024, 5, 5, tzinfo=UTC))
    broad = component("broad", published=datetime(2024, 4, 1, tzinfo=UTC))
    digest = build_digest(
        ALEX, [Match(narrow, (TOPIC,)), Match(broad, (COMPANY, PLACE))], max_items=10
    )
    assert digest.lead.component.key == "broad"


def test_sections_list_newest_first_and_undated_last():
    items = [
        component("old", published=datetime(2024, 1, 1, tzinfo=UTC)),
        component("undated", published=None),
        component("new", published=datetime(2024, 5, 1, tzinfo=UTC)),
    ]
    lead = component("lead", kind=Kind.COMPANY_NON_RESPONSE)
    digest = build_digest(
        ALEX,
        [Match(lead, (COMPANY,))] + [Match(i, (TOPIC,)) for i in items],
        max_items=10,
    )
    assert [m.component.key for m in digest.sections[0].items] == [
        "new",
        "old",
        "undated",
    ]


def test_item_cap_keeps_company_news_and_counts_the_rest():
    matches = [Match(component(f"c{i}"), (COMPANY,)) for i in range(5)]
    matches += [Match(component(f"t{i}"), (TOPIC,)) for i in range(5)]
    digest = build_digest(ALEX, matches, max_items=4)
    shown = [m.component.key for m in digest.matches]
    assert len(shown) == 4 and all(key.startswith("c") for key in shown)
    assert digest.more_count == 6


def test_duplicate_matches_merge_their_reasons():
    item = component("hk")
    digest = build_digest(
        ALEX, [Match(item, (TOPIC,)), Match(item, (COMPANY,))], max_items=5
    )
    assert digest.sections == ()
    assert digest.lead.reasons == (COMPANY, TOPIC)


def test_no_matches_gives_an_empty_digest():
    digest = build_digest(ALEX, [], max_items=5)
    assert (digest.lead, digest.sections, digest.more_count) == (None, (), 0)


def test_max_items_below_one_is_refused():
    with pytest.raises(ValueError):
        build_digest(ALEX, [], max_items=0)


# ----------------------------------------------------------------- rendering


def test_hostile_title_author_and_excerpt_are_escaped_in_html(renderer):
    item = component(
        "hostile",
        title='<script>alert(1)</script> "><img src=x onerror=alert(2)>',
        author="<b>Bold</b> Monitor",
        excerpt_text="Text with </div><iframe src=evil> inside",
        source_title='"><svg onload=alert(3)>',
    )
    html = render(renderer, one_item_digest(item)).html
    assert "<script>" not in html
    assert "<img" not in html and "<iframe" not in html and "<svg" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; Monitor" in html


def test_data_is_never_read_as_template_code(renderer):
    item = component("jinja", title="{{ 7 * 7 }} and {% if true %}x{% endif %}")
    rendered = render(renderer, one_item_digest(item))
    assert "{{ 7 * 7 }} and {% if true %}x{% endif %}" in rendered.text
    assert "49" not in rendered.text


def test_link_that_is_not_http_points_to_the_site_instead(renderer):
    item = component("js", url="javascript:alert(1)")
    html = render(renderer, one_item_digest(item)).html
    assert "javascript:" not in html
    assert f'href="{SITE}"' in html


def test_css_is_inlined_onto_the_elements(renderer):
    html = render(
        renderer, one_item_digest(component("a", companies=("Cellebrite",)))
    ).html
    title_link = re.search(r'<a class="lead-title"[^>]*>', html).group()
    assert re.search(r'style="[^"]*color:#1b365d', title_link)
    for cls in ("masthead", "date", "why", "footer"):
        element = re.search(rf'<\w+ class="{cls}"[^>]*>', html).group()
        assert "style=" in element, element
    # what stays in <style> is only what cannot be inlined: @media rules
    for block in re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL):
        assert (
            re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", block).strip() == ""
        )


def test_html_is_made_for_mail_clients(renderer):
    digest = build_digest(
        ALEX,
        [
            Match(component(f"i{n}", title=f"Headline {n}"), (COMPANY,))
            for n in range(3)
        ],
        max_items=10,
    )
    html = render(renderer, digest).html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert re.search(r"@media only screen and \(max-width: 6\d\dpx\)", html)
    assert 'width="600"' in html and "max-width:600px" in html
    assert 'role="presentation"' in html
    preheader = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert "display:none" in preheader.group()
    assert "Headline" in preheader.group(1)


def test_item_shows_date_source_excerpt_badge_and_why(renderer):
    item = component(
        "jp",
        title="Israel: Cellebrite says it does not sell to areas sanctioned by US",
        author="Jerusalem Post",
        source_title="Hong Kong democracy activists to Israel: Stop exporting tech to police",
        source_date=date(2020, 7, 31),
        published=datetime(2020, 8, 10, tzinfo=UTC),
        excerpt_text="Hong Kong pro-democracy leader Joshua Wong joined a call…",
        kind=Kind.COMPANY_RESPONSE,
    )
    rendered = render(renderer, one_item_digest(item, reasons=(COMPANY, PLACE, TOPIC)))
    for part in (rendered.html, rendered.text):
        assert "10 August 2020" in part
        assert "Company response" in part
        assert "Joshua Wong joined a call" in part
    assert (
        "Source: Jerusalem Post — “Hong Kong democracy activists to Israel: "
        "Stop exporting tech to police”, 31 July 2020"
    ) in re.sub(r"<[^>]+>", "", rendered.html)  # feed text sits in <span dir="auto">
    assert (
        "Why: company Cellebrite · place Hong Kong · topic Technology &amp; human rights"
        in rendered.html
    )
    assert (
        "Why: company Cellebrite · place Hong Kong · topic Technology & human rights"
        in " ".join(rendered.text.split())
    )
    assert f'href="{item.url}"' in rendered.html


def test_non_response_and_missing_date_are_said_plainly(renderer):
    item = component("silent", kind=Kind.COMPANY_NON_RESPONSE, published=None)
    rendered = render(renderer, one_item_digest(item))
    for part in (rendered.html, rendered.text):
        assert "Company did not respond" in part
        assert "date not given" in part


def test_long_excerpt_is_trimmed_at_a_word(renderer):
    item = component("long", excerpt_text="word " * 400)
    text = render(renderer, one_item_digest(item)).text
    excerpt = re.search(r"\n\n(  word.*?…)", text, re.DOTALL).group(1)
    assert 500 < len(" ".join(excerpt.split())) < 650


def test_translation_in_the_readers_first_language_is_shown(renderer):
    item = component(
        "hk",
        title="Hong Kong: ProtonVPN announces donations",
        translations=(
            Translation(
                "ja",
                "香港：ProtonVPNが寄付を発表",
                f"{SITE}/ja/最新ニュース/hk/",
                "Japan In-Depth",
                "…衆議院議員会館で…",
            ),
        ),
    )
    japanese_reader = Subscriber(
        email="taro@example.jp",
        name="太郎",
        languages=("ja", "en"),
        places=("Hong Kong",),
    )
    rendered = render(renderer, one_item_digest(item, japanese_reader, (PLACE,)))
    for part in (rendered.html, rendered.text):
        assert "香港：ProtonVPNが寄付を発表" in part
        assert "ProtonVPN announces donations" not in part
        assert "Japan In-Depth" in part
    assert 'lang="ja"' in rendered.html
    english_reader = render(renderer, one_item_digest(item, ALEX, (PLACE,)))
    assert "Hong Kong: ProtonVPN announces donations" in english_reader.html
    assert "香港" not in english_reader.html


@pytest.mark.parametrize("languages", [("ja-JP", "en"), ("JA", "en")])
def test_a_readers_regional_or_capitalised_code_reads_the_sites_translation(renderer, languages):
    item = component("hk", title="Hong Kong: ProtonVPN announces donations", translations=(
        Translation("ja", "香港：ProtonVPNが寄付を発表", f"{SITE}/ja/最新ニュース/hk/", "Japan In-Depth", "…"),))
    reader = Subscriber(email="taro@example.jp", name="太郎", languages=languages, places=("Hong Kong",))
    rendered = render(renderer, one_item_digest(item, reader, (PLACE,)))
    assert "香港：ProtonVPNが寄付を発表" in rendered.html and "ProtonVPN announces donations" not in rendered.html
    british = Subscriber(email="alex@example.org", name="Alex", languages=("en-GB", "ja"), places=("Hong Kong",))
    assert "ProtonVPN announces donations" in render(renderer, one_item_digest(item, british, (PLACE,))).html


SIMPLIFIED, TRADITIONAL = "香港：简体", "香港：繁體"


@pytest.mark.parametrize(("code", "shown"), [("zh-CN", SIMPLIFIED), ("zh-SG", SIMPLIFIED), ("zh", SIMPLIFIED),
                                             ("zh-TW", TRADITIONAL), ("zh-HK", TRADITIONAL), ("zh-Hant", TRADITIONAL)])
def test_a_chinese_readers_region_code_reads_the_script_the_site_publishes_for_it(renderer, code, shown):
    item = component("hk", title="Hong Kong: ProtonVPN announces donations", translations=(
        Translation("zh-hans", SIMPLIFIED, f"{SITE}/zh-hans/x/", None, "…"),
        Translation("zh-hant", TRADITIONAL, f"{SITE}/zh-hant/x/", None, "…"),
    ))
    reader = Subscriber(email="li@example.org", languages=(code, "en"), places=("Hong Kong",))
    html = render(renderer, one_item_digest(item, reader, (PLACE,))).html
    assert shown in html and "ProtonVPN announces donations" not in html


def test_inline_translation_without_a_headline_keeps_the_original_headline_and_link(renderer):
    # The old site's `+ 日本語 - Hide` block: a Japanese text, but no headline and no page.
    item = component(
        "inline",
        title="Israel: Cellebrite says it does not sell to areas sanctioned by US",
        translations=(Translation("ja", "", "", "Japan In-Depth", "…設立総会を開いた…"),),
    )
    japanese_reader = Subscriber(email="taro@example.jp", languages=("ja", "en"), companies=("Cellebrite",))
    rendered = render(renderer, one_item_digest(item, japanese_reader))
    for part in (rendered.html, rendered.text):
        assert "Cellebrite says it does not sell to areas sanctioned by US" in part
        assert item.url in part
        assert "…設立総会を開いた…" in part
    assert f'href="{item.url}"' in rendered.html
    assert 'lang="ja"' in rendered.html and 'lang="en"' in rendered.html


def test_component_in_none_of_the_readers_languages_is_still_shown(renderer):
    item = component("es", title="México: respuesta de la empresa", language="es")
    rendered = render(renderer, one_item_digest(item))
    assert "México: respuesta de la empresa" in rendered.html
    assert 'lang="es"' in rendered.html


def test_footer_says_why_the_reader_gets_it_and_how_to_leave(renderer):
    rendered = render(renderer, one_item_digest(component("a")))
    for part in (rendered.html, rendered.text):
        flowing = " ".join(part.split())
        assert (
            "you follow companies Cellebrite; places Hong Kong; topics Technology"
            in flowing
        )
        assert UNSUBSCRIBE in part
        assert PREFERENCES in part


def test_text_part_is_wrapped(renderer):
    item = component(
        "w", title="A very long headline " * 8, excerpt_text="Some words here " * 40
    )
    text = (
        render(renderer, one_item_digest(item)).text
        + render(renderer, realistic_digest()).text
    )
    for line in text.splitlines():
        assert len(line) <= 76 or line.startswith(
            ("http", "Unsubscribe:", "Change what")
        ), line


def test_two_hundred_long_items_stay_under_the_size_cap(renderer):
    matches = [
        Match(
            component(
                f"item-{n:03d}",
                title=f"Item {n}: "
                + "a long headline about a company and a country " * 3,
                excerpt_text="A long excerpt with many words about what happened. "
                * 30,
                author="Example Monitor",
                source_title="A quoted source headline " * 4,
                source_date=date(2024, 4, 30),
            ),
            (COMPANY, PLACE, TOPIC),
        )
        for n in range(200)
    ]
    digest = build_digest(ALEX, matches, max_items=200)
    rendered = render(renderer, digest)
    message = build_message(
        rendered,
        subscriber=ALEX,
        from_addr="Business & Human Rights Resource Centre <updates@example.org>",
        subject="Business & human rights: your weekly update",
        run_id=1,
        list_id="weekly.digest.example.org",
        unsubscribe_url="https://digest.example.org/u/"
        + make_token("secret", 1, "weekly.digest.example.org"),
        unsubscribe_mailto="unsubscribe@example.org",
        now=datetime(2024, 5, 6, tzinfo=UTC),
        domain="digest.example.org",
    )
    assert len(message.as_bytes()) < MAX_ENCODED_BYTES
    assert 5 < rendered.item_count < 200
    dropped = 200 - rendered.item_count
    for part in (rendered.html, rendered.text):
        assert f"{dropped} more items on business-humanrights.org" in part
        assert UNSUBSCRIBE in part  # the footer survives the cap
    assert len(rendered.component_keys) == rendered.item_count
    assert rendered.component_keys[0] == digest.lead.component.key


def capped_digest(seed, count, excerpt_chars):
    matches = [
        Match(component(f"{seed}-{n:03d}", title=f"Item {n}: a headline about a company " * 2,
                        excerpt_text=("Words about what happened here. " * 40)[:excerpt_chars],
                        author="Monitor " * (n % 5)), (COMPANY,))
        for n in range(count)
    ]  # fmt: skip
    return build_digest(ALEX, matches, max_items=count)


def test_a_reader_gets_the_same_items_from_a_fresh_renderer_as_from_a_busy_one():
    # `preview` renders one digest with a new renderer; `send` renders every digest of
    # the run with one renderer, whose size model has learnt from the others.
    digest = capped_digest("reader", 150, 590)
    fresh = render(DigestRenderer(TEMPLATES), digest)
    busy = DigestRenderer(TEMPLATES)
    for seed in range(1, 6):
        render(busy, capped_digest(f"other{seed}", 60 + 20 * seed, 100 * seed))
    assert render(busy, digest).item_count == fresh.item_count
    # ... and it is the most items that fit: one more would break the cap.
    one_more = busy._render_kept(digest, _entries(digest), fresh.item_count + 1, UNSUBSCRIBE, PREFERENCES, Mailbox())
    assert _message_size(*one_more) > MAX_ENCODED_BYTES


def test_premailer_runs_once_per_renderer_not_per_email():
    calls = []

    def counting_inliner(html, css):
        calls.append(len(html))
        return premailer_inline(html, css)

    renderer = DigestRenderer(TEMPLATES, inline_css=counting_inliner)
    for n in range(5):
        rendered = render(renderer, one_item_digest(component(f"c{n}")))
        assert "style=" in rendered.html
    assert len(calls) == 1


# ------------------------------------------------------- templates staff edit


@pytest.fixture
def editable_templates(tmp_path):
    shutil.copytree(TEMPLATES, tmp_path, dirs_exist_ok=True)
    return tmp_path


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_templates_pass_the_check():
    DigestRenderer(TEMPLATES).check()


def test_staff_edit_to_the_stylesheet_reaches_every_email(editable_templates):
    why_rule = (
        ".why { margin: 0; font-size: 13px; line-height: 19px; color: #595959; }"
    )
    edit(
        editable_templates / "digest.css",
        why_rule,
        why_rule.replace("#595959", "#005500"),
    )
    html = render(
        DigestRenderer(editable_templates), one_item_digest(component("a"))
    ).html
    why = re.search(r'<p class="why"[^>]*>', html).group()
    assert "#050" in why or "#005500" in why


def test_jinja_in_a_class_attribute_is_refused_with_its_line(editable_templates):
    edit(
        editable_templates / "digest.html.j2",
        '<a class="title" href',
        '<a class="title {{ item.kind }}" href',
    )
    with pytest.raises(
        ConfigError, match=r"digest\.html\.j2:\d+: template: no Jinja inside class"
    ):
        DigestRenderer(editable_templates)


def test_if_splitting_an_element_is_refused(editable_templates):
    edit(
        editable_templates / "digest.html.j2",
        '<a class="title" href="{{ item.url }}" dir="auto">',
        '{% if item.translated %}<a class="title" href="{{ item.url }}">'
        '{% else %}<a class="title" href="#">{% endif %}',
    )
    with pytest.raises(ConfigError, match="close every element"):
        DigestRenderer(editable_templates)


def test_jinja_inside_an_html_comment_stays_inside_it():
    source = (
        "<html><head></head><body><!--[if mso]>{{ digest.name }}<![endif]-->"
        '<p class="why">{{ digest.name }}</p></body></html>'
    )
    inlined = inline_template(
        source,
        ".why { color: #666666 }",
        inline_css=premailer_inline,
        template_path=Path("t"),
    )
    assert "<!--[if mso]>{{ digest.name }}<![endif]-->" in inlined
    assert '<p class="why" style="color:#666">{{ digest.name }}</p>' in inlined


def test_template_syntax_error_names_file_and_line(editable_templates):
    edit(editable_templates / "digest.txt.j2", "{% endfor %}", "{% endfro %}")
    with pytest.raises(ConfigError, match=r"digest\.txt\.j2:\d+"):
        DigestRenderer(editable_templates)


def test_unknown_variable_is_caught_by_the_check(editable_templates):
    edit(
        editable_templates / "digest.html.j2",
        "{{ section.title }}",
        "{{ section.heading }}",
    )
    renderer = DigestRenderer(editable_templates)
    with pytest.raises(ConfigError, match="heading"):
        renderer.check()


def test_missing_stylesheet_is_a_configuration_error(editable_templates):
    (editable_templates / "digest.css").unlink()
    with pytest.raises(ConfigError, match=r"digest\.css"):
        DigestRenderer(editable_templates)


# -------------------------------------------------------------- golden files


def realistic_digest():
    """Alex's week, from the Cellebrite / Hong Kong story of the seed page."""
    url = f"{SITE}/en/latest-news"
    components = [
        Component(
            key="jpost",
            url=f"{url}/israel-cellebrite-says-it-does-not-sell-to-areas-sanctioned-by-us/",
            title="Israel: Cellebrite says it does not sell to areas sanctioned by US as activists "
            "urge it to stop exporting tech to Hong Kong police",
            language="en",
            published=datetime(2020, 8, 10, tzinfo=UTC),
            author="Jerusalem Post",
            source_title="Hong Kong democracy activists to Israel: Stop exporting tech to police",
            source_date=date(2020, 7, 31),
            excerpt_html="",
            excerpt_text=(
                "Hong Kong pro-democracy leader Joshua Wong joined a call for Israel to block a "
                "civilian technology company from selling products China used to spy on "
                "protesters.\n\nWong wrote a Facebook post saying a software developed by an "
                "Israeli company called Cellebrite, was used by the Hong Kong Police Forces to "
                "hack into his phone.\n\n… the activists state that the Cellebrite system was "
                "used to hack into 4,000 Hong Kong citizens’ phones…\n\nCellebrite said that it "
                "does not comment on specific customers, but that they have strict guidelines "
                "governing how the technology may be used."
            ),
            kind=Kind.ARTICLE,
            companies=("Cellebrite",),
            countries=("Israel", "Hong Kong", "China"),
            regions=("Middle East & North Africa", "Asia & Pacific"),
            topics=("Technology & human rights",),
            translations=(
                Translation(
                    "ja",
                    "イスラエル：セレブライト社、米国の制裁対象地域には販売していないと説明",
                    f"{SITE}/ja/最新ニュース/israel-cellebrite/",
                    "Japan In-Depth",
                    "…衆議院議員会館で「対中政策に関する国会議員連盟」が設立総会を開いた…",
                ),
            ),
        ),
        Component(
            key="response",
            url=f"{url}/cellebrites-response-3/",
            title="Cellebrite's response",
            language="en",
            published=datetime(2021, 8, 2, tzinfo=UTC),
            author="Cellebrite",
            source_title=None,
            source_date=None,
            excerpt_html="",
            excerpt_text="",
            kind=Kind.COMPANY_RESPONSE,
            companies=("Cellebrite",),
        ),
        Component(
            key="sun",
            url=f"{url}/sun-corporation-did-not-respond/",
            title="Sun Corporation did not respond",
            language="en",
            published=datetime(2021, 8, 2, tzinfo=UTC),
            author=None,
            source_title=None,
            source_date=None,
            excerpt_html="",
            excerpt_text="We invited Sun Corporation to respond; it did not.",
            kind=Kind.COMPANY_NON_RESPONSE,
            companies=("Sun Corporation",),
        ),
        Component(
            key="protonvpn",
            url=f"{url}/hong-kong-protonvpn-announces-initiative-to-donate/",
            title="Hong Kong: ProtonVPN announces initiative to donate to civil rights "
            "organisations to support democracy and freedom",
            language="en",
            published=datetime(2020, 7, 21, tzinfo=UTC),
            author="ProtonVPN",
            source_title="Help us defend democracy and freedom in Hong Kong",
            source_date=date(2020, 7, 21),
            excerpt_html="",
            excerpt_text=(
                "… Today we’re announcing a new initiative to defend democracy, privacy, and "
                "freedom of speech in Hong Kong."
            ),
            kind=Kind.ARTICLE,
            companies=("ProtonVPN",),
            countries=("Hong Kong", "China"),
            regions=("Asia & Pacific",),
            topics=("Technology & human rights",),
            mentions=("HSBC",),
            mention_line="[Also referred to HSBC]",
            place_origins=tuple(PlaceOrigin(p, "Hong Kong", "title") for p in ("Hong Kong", "China", "Asia & Pacific")),
        ),
        Component(
            key="shadows",
            url=f"{url}/operating-from-the-shadows/",
            title="Operating from the Shadows: Inside a spyware vendor’s corporate structure",
            language="en",
            published=None,
            author="Amnesty International, Privacy International & SOMO",
            source_title=None,
            source_date=None,
            excerpt_html="",
            excerpt_text="Briefing maps holding companies across several jurisdictions & "
            "recommends investor due diligence…",
            kind=Kind.ARTICLE,
            topics=("Technology & human rights",),
        ),
        Component(
            key="watchdogs",
            url=f"{url}/israelopt-dem-rep-of-congo-govt-contracts/",
            title="Israel/OPT & Dem. Rep. of Congo: Govt. contracts with surveillance cos. "
            "questioned by natl. watchdogs",
            language="en",
            published=datetime(2019, 6, 2, tzinfo=UTC),
            author="Example Monitor",
            source_title="Watchdogs query spyware procurement",
            source_date=date(2019, 6, 2),
            excerpt_html="",
            excerpt_text="…two national audit bodies asked ministries to publish contracts…",
            kind=Kind.ARTICLE,
            countries=(
                "Israel & Occupied Palestinian Territories",
                "Democratic Republic of the Congo",
            ),
            regions=("Middle East & North Africa", "Africa"),
            topics=("Technology & human rights",),
        ),
    ]
    alex = Subscriber(
        email="alex@example.org",
        name="Alex",
        languages=("en", "ja"),
        companies=("HSBC", "Cellebrite", "Sun Corporation"),
        places=("Asia & Pacific", "Israel"),
        topics=("Technology & human rights",),
    )
    matches = Matcher([alex]).match(components)["alex@example.org"]
    return build_digest(alex, matches, max_items=20)


@pytest.mark.parametrize("suffix", ["html", "txt"])
def test_realistic_digest_matches_the_golden_file(renderer, suffix):
    rendered = render(renderer, realistic_digest())
    actual = rendered.html if suffix == "html" else rendered.text
    golden = GOLDEN / f"digest.{suffix}"
    if os.environ.get("BHRDIGEST_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), (
        "run with BHRDIGEST_UPDATE_GOLDEN=1 to create the golden files"
    )
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{golden.name} changed; if intended, regenerate with BHRDIGEST_UPDATE_GOLDEN=1 "
        "and review the diff"
    )


# ------------------------------------------------- items rendered once, reused


def test_the_same_item_shows_each_readers_own_reasons(renderer):
    item = component("shared", "Shared story")
    kim = Subscriber(email="kim@example.org", name="Kim", places=("Hong Kong",))
    first = render(renderer, one_item_digest(item, reasons=(COMPANY,)))
    second = render(renderer, one_item_digest(item, subscriber=kim, reasons=(PLACE,)))
    again = render(renderer, one_item_digest(item, reasons=(COMPANY,)))
    assert re.findall(r"Why: .*", first.text) == ["Why: company Cellebrite"]
    assert re.findall(r"Why: .*", second.text) == ["Why: place Hong Kong"]
    assert ">Why: company Cellebrite<" in first.html and ">Why: place Hong Kong<" in second.html
    assert (again.html, again.text) == (first.html, first.text)


def test_staff_edit_that_puts_the_readers_name_in_items_reaches_each_reader(editable_templates):
    edit(
        editable_templates / "digest.html.j2",
        '<a class="title" href="{{ item.url }}" dir="auto">{{ item.title }}</a>',
        '<a class="title" href="{{ item.url }}" dir="auto">{{ item.title }}</a> for {{ digest.name }}',
    )
    renderer = DigestRenderer(editable_templates)
    item = component("shared", "Shared story")
    kim = Subscriber(email="kim@example.org", name="Kim", places=("Hong Kong",))
    alex_html = render(
        renderer, build_digest(ALEX, [Match(item, (COMPANY,)), Match(component("b"), (COMPANY,))], max_items=10)
    ).html
    kim_html = render(
        renderer, build_digest(kim, [Match(item, (PLACE,)), Match(component("b"), (PLACE,))], max_items=10)
    ).html
    assert "</a> for Alex" in alex_html and "for Kim" not in alex_html
    assert "</a> for Kim" in kim_html and "for Alex" not in kim_html


def test_one_shared_match_shows_each_reader_their_own_language(renderer):
    # A run shares one Match per (component, reasons) among all its digests.
    item = component(
        "shared-ja",
        title="Hong Kong: ProtonVPN announces donations",
        translations=(Translation("ja", "香港：ProtonVPNが寄付を発表", f"{SITE}/ja/最新ニュース/shared-ja/"),),
    )
    shared = Match(item, (PLACE,))
    taro = Subscriber(email="taro@example.jp", name="太郎", languages=("ja", "en"), places=("Hong Kong",))
    for _ in range(2):  # the second time round, from what the renderer remembers
        japanese = render(renderer, build_digest(taro, [shared], max_items=10))
        english = render(renderer, build_digest(ALEX, [shared], max_items=10))
        assert "香港：ProtonVPNが寄付を発表" in japanese.text and "announces donations" not in japanese.text
        assert "announces donations" in english.text and "香港" not in english.html
