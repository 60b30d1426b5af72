"""Localisation: the catalogues, the digest in the reader's language, right-to-left text.

The catalogues live in src/bhrdigest/locale (README "Translations"). Adding a language is
adding a catalogue: the right-to-left tests below add an Arabic one in a temporary folder
and change no code.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from test_digests import ALEX, COMPANY, PLACE, PREFERENCES, TEMPLATES, UNSUBSCRIBE, component, one_item_digest

from bhrdigest.digest.build import build_digest
from bhrdigest.digest.match import Match
from bhrdigest.digest.render import DigestRenderer
from bhrdigest.digest.views import Mailbox
from bhrdigest.i18n import LOCALE_DIR, N_, chrome_for
from bhrdigest.model import Kind, Subscriber, Translation

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("en", "es", "fr")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sr]")

ANA = Subscriber(email="ana@example.org", name="Ana", languages=("es", "en"), companies=("Cellebrite",),
                 places=("Hong Kong",))  # fmt: skip
CLAIRE = Subscriber(email="claire@example.org", name="Claire", languages=("fr",), companies=("Cellebrite",))
KENJI = Subscriber(email="kenji@example.org", name="Kenji", languages=("ja", "en"), companies=("Cellebrite",))
SAMIR = Subscriber(email="samir@example.org", name="Samir", languages=("ar", "en"), companies=("Cellebrite",))


def rendered(renderer, digest, **extra):
    return renderer.render(digest, unsubscribe_url=UNSUBSCRIBE, preferences_url=PREFERENCES, **extra)


@pytest.fixture(scope="module")
def renderer():
    return DigestRenderer(TEMPLATES)


def response_item(**extra):
    return component("resp", "Cellebrite's response", kind=Kind.COMPANY_RESPONSE,
                     published=datetime(2020, 8, 10, tzinfo=UTC), source_date=date(2020, 7, 31),
                     source_title="A quoted headline", **extra)  # fmt: skip


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------- the catalogues


def read_catalogue(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def test_the_template_holds_every_message_the_code_and_templates_use():
    method_map, options_map = parse_mapping_cfg(io.StringIO((ROOT / "babel.cfg").read_text()))
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    used = {message[2] for message in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}
    used = {m[0] if isinstance(m, tuple) else m for m in used}
    template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_catalogue(LOCALE_DIR / "messages.pot")}
    missing = used - template
    assert not missing, f"run the README's `pybabel extract` and `pybabel update`: {sorted(missing)[:5]}"


@pytest.mark.parametrize("language", SHIPPED)
def test_each_shipped_catalogue_translates_every_message_with_the_same_placeholders(language):
    template = read_catalogue(LOCALE_DIR / "messages.pot")
    catalogue = read_catalogue(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", language)
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id)
        assert translated is not None, f"{language}: no entry for {message.id!r}"
        assert not translated.fuzzy, f"{language}: fuzzy translation of {message.id!r}"
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        assert all(strings), f"{language}: {message.id!r} is not translated"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= wanted | {"num"}, f"{language}: {string!r}"
            assert set(PLACEHOLDER.findall(string)) >= wanted - {"num"}, f"{language}: {string!r}"
    assert not list(catalogue.check()), f"{language}: Babel's checks fail"


@pytest.mark.parametrize("language", SHIPPED)
def test_catalogue_text_uses_only_inline_markup(language):
    """Catalogue text is markup in HTML templates: a stray "<" would open an element."""
    catalogue = read_catalogue(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", language)
    for message in catalogue:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in (*strings, *(message.id if isinstance(message.id, tuple) else (message.id,))):
            tags = set(re.findall(r"<\s*/?\s*([^\s>/]*)", text))
            assert tags <= {"strong", "em", "a", "b", "i", "code"}, f"{language}: {text!r}"


@pytest.mark.parametrize("language", SHIPPED)
def test_each_compiled_catalogue_is_the_compilation_of_its_source(language):
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(folder / "messages.po", language))
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), "run the README's `pybabel compile`"


# ------------------------------------------------------ the digest in the reader's language


def test_a_spanish_reader_gets_spanish_wording_dates_and_sections(renderer):
    digest = build_digest(ANA, [Match(response_item(), (COMPANY,)), Match(component("b"), (COMPANY,))],
                          max_items=10)  # fmt: skip
    out = rendered(renderer, digest)
    assert '<html lang="es" dir="ltr">' in out.html
    for part in (visible_text(out.html), out.text):
        assert "Estimado/a Ana:" in part
        assert "10 de agosto de 2020" in part and "31 de julio de 2020" in part
        assert "Respuesta de la empresa" in part
        assert "Fuente:" in part and "Por qué: empresa Cellebrite" in part
        assert "Darse de baja" in part
        assert "Dear" not in part and "Company response" not in part and "August" not in part
    assert "Sus empresas" in out.html and "SUS EMPRESAS" in out.text
    assert "Cellebrite&#39;s response" in out.html  # the item keeps its own language


def test_a_french_reader_gets_french_plurals_for_what_did_not_fit(renderer):
    items = [Match(component(f"i{n}"), (COMPANY,)) for n in range(7)]
    one_more = rendered(renderer, build_digest(CLAIRE, items[:3], max_items=2))
    five_more = rendered(renderer, build_digest(CLAIRE, items, max_items=2))
    assert "1 autre article sur business-humanrights.org" in one_more.text
    assert "5 autres articles sur business-humanrights.org" in five_more.text
    assert "5 autres articles sur business-humanrights.org" in five_more.html
    english = rendered(renderer, build_digest(ALEX, items, max_items=2))
    assert "5 more items on business-humanrights.org" in english.text


def test_a_reader_whose_language_has_no_catalogue_gets_english_wording_and_their_items(renderer):
    item = component("jp", "Israel: Cellebrite story", translations=(
        Translation("ja", "イスラエル：セレブライト", "https://www.business-humanrights.org/ja/x/"),))
    out = rendered(renderer, one_item_digest(item, KENJI))
    assert '<html lang="en" dir="ltr">' in out.html and 'lang="ja"' in out.html
    assert "Dear Kenji," in out.text and "イスラエル：セレブライト" in out.text
    assert "1 May 2024" in out.text  # English dates, as the rest of the wording


def test_the_subject_is_in_the_readers_language():
    assert chrome_for(["es"]).gettext(N_("Business & human rights: your weekly update")) == (
        "Empresas y derechos humanos: su boletín semanal")
    assert chrome_for(["fr-CA"]).gettext("Business & human rights: your weekly update").startswith("Entreprises")
    assert chrome_for(["ja"]).gettext("A subject staff wrote") == "A subject staff wrote"


# ------------------------------------------------------------------- right to left


def test_an_arabic_item_is_marked_right_to_left_in_an_english_digest(renderer):
    arabic = component("ar", "إسرائيل: سيليبرايت تقول إنها لا تبيع", language="ar",
                       excerpt_text="قال متحدث باسم الشركة…")  # fmt: skip
    out = rendered(renderer, one_item_digest(arabic, ALEX))
    cell = re.search(r'<td class="lead"[^>]*>', out.html).group()
    assert 'lang="ar"' in cell and 'dir="rtl"' in cell and 'align="right"' in cell
    assert '<html lang="en" dir="ltr">' in out.html
    assert re.search(r'<a class="lead-title"[^>]*dir="auto"', out.html)
    assert re.search(r'<p class="excerpt"[^>]*dir="auto"[^>]*>قال متحدث', out.html)
    assert "إسرائيل: سيليبرايت تقول إنها لا تبيع" in out.text


def arabic_catalogue(tmp_path: Path, translations: dict[str, str]) -> Path:
    """The shipped catalogues plus an Arabic one: a catalogue file, no code."""
    locale_dir = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale_dir)
    catalogue = Catalog(locale="ar")
    for message_id, string in translations.items():
        catalogue.add(message_id, string)
    folder = locale_dir / "ar" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, catalogue)
    with (folder / "messages.mo").open("wb") as handle:
        write_mo(handle, catalogue)
    return locale_dir


def test_adding_an_arabic_catalogue_mirrors_the_digest_and_never_shows_a_key(tmp_path):
    locale_dir = arabic_catalogue(tmp_path, {
        "Your companies": "شركاتك",
        "Company response": "رد الشركة",
        "Dear %(name)s,": "عزيزي %(اسم)s،",  # a translator's slip: the placeholder is wrong
    })  # fmt: skip
    renderer = DigestRenderer(TEMPLATES, locale_dir=locale_dir)
    digest = build_digest(SAMIR, [Match(response_item(), (COMPANY,)), Match(component("b"), (COMPANY,))],
                          max_items=10)  # fmt: skip
    out = rendered(renderer, digest)
    assert '<html lang="ar" dir="rtl">' in out.html and '<body dir="rtl"' in out.html
    assert "شركاتك" in out.html and "رد الشركة" in out.text
    assert "Dear Samir," in out.text  # the slip shows the English, not a broken page
    assert "Why:" in out.text and "Source:" in out.text  # untranslated: the English, never a key
    assert "10 أغسطس 2020" in out.text  # dates in Arabic conventions
    cell = re.search(r'<td class="lead"[^>]*>', out.html).group()
    assert 'lang="en"' in cell and 'dir="ltr"' in cell  # an English item stays left to right


# ------------------------------------------------------------------------ footer


def test_the_footer_names_the_sender_and_links_privacy_and_the_browser_view(renderer):
    mailbox = Mailbox(reply_to=True, postal_address="Business & Human Rights Resource Centre, London, UK",
                      privacy_url="https://www.example.org/privacy", view_url="https://www.example.org/weekly")
    out = rendered(renderer, one_item_digest(component("a"), ANA), mailbox=mailbox)
    for part in (out.html, out.text):
        assert "https://www.example.org/privacy" in part and "https://www.example.org/weekly" in part
        assert "London, UK" in part
    assert ">Aviso de privacidad</a>" in out.html and "Ver en el navegador: https://www.example.org/weekly" in out.text
    assert "Responda a este correo" in out.text
    bare = rendered(renderer, one_item_digest(component("a"), ANA))
    assert "privacy" not in bare.text and "Responda" not in bare.text


# ------------------------------------------------------ bidi controls from hostile feeds

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def test_bidi_overrides_and_isolates_from_a_hostile_feed_never_reach_a_digest(renderer):
    from bhrdigest.ingest.parse import parse_feed

    hostile = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><item>'
        "<title>Cellebrite\u202e esnopser s\u2019etirbelleC&#x2066;</title>"
        "<link>https://www.business-humanrights.org/en/latest-news/x/</link>"
        "<dc:creator>Reuters\u2067 \u202b</dc:creator>"
        "<description>&lt;p&gt;Author: Guardian\u2068, Published on: 22 March 2016&lt;/p&gt;"
        "&lt;p&gt;Text \u202d with &amp;#x202E; escaped &amp;amp;#8238; twice \u2069 and "
        "\u0627\u0644\u0639\u0631\u0628\u064a\u0629\u200f kept.&lt;/p&gt;</description>"
        "</item></channel></rss>"
    )
    (entry,) = parse_feed(hostile.encode(), feed_url="x", now=datetime(2024, 5, 2, tzinfo=UTC)).entries
    for value in (entry.title, entry.author, entry.source_title, entry.excerpt_text, entry.excerpt_html):
        assert not BIDI_CONTROLS.search(value or ""), repr(value)
    assert entry.title.startswith("Cellebrite") and "\u200f" in entry.excerpt_text  # marks stay, text stays
    item = component("x", entry.title, author=entry.author, excerpt_text=entry.excerpt_text)
    out = rendered(renderer, one_item_digest(item, ALEX, (COMPANY, PLACE)))
    assert not BIDI_CONTROLS.search(out.html) and not BIDI_CONTROLS.search(out.text)
