"""The language of everything around the items: gettext catalogues managed by Babel.

A reader's *chrome* (subject, greeting, section titles, labels, dates, footer, web pages,
bot replies) is in their first language when `locale/<code>/LC_MESSAGES/messages.mo`
exists, else in English; the items themselves keep the language they were published or
translated in. Adding a language is adding its catalogue (README "Translations"): no
code names the shipped languages.

Jinja templates get `gettext`, `ngettext` and `_` from `Chrome.template_globals()`, in
the context of each render (not the environment), so one environment serves every
language at once and a remembered item block is remembered per language
(digest/templating.py keys on the `gettext` it was rendered with).

A translation never breaks a page: a missing one shows the English text, and one whose
placeholders do not fit the English shows the English text too (the catalogue test in
tests/test_i18n.py keeps that from reaching a release).
"""

from __future__ import annotations

import functools
import gettext as gettext_module
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# The Resource Centre is a UK charity: English dates read "10 August 2020".
_REGIONAL_CONVENTIONS = {"en": "en_GB"}
_BARE_AMPERSAND = re.compile(r"&(?!#?[A-Za-z0-9]+;)")


def N_(message: str) -> str:  # gettext's own name, known to `pybabel extract`
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True, eq=False)
class Chrome:
    """One language's wording and conventions (dates, numbers, direction)."""

    code: str  # "en", "es", "fr": the catalogue's folder name
    locale: Locale
    translations: gettext_module.NullTranslations = field(repr=False)

    @property
    def direction(self) -> str:
        """"rtl" for Arabic, Hebrew, Persian, Urdu…; else "ltr"."""
        return "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def gettext(self, message: str, **variables: Any) -> str:
        """`message` in this language, `%(name)s` placeholders filled from `variables`."""
        return _fill(self.translations.gettext(message), message, variables)

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        """The plural form for `n` (placeholder `%(num)s` is `n`, formatted for the locale)."""
        variables.setdefault("num", self.format_number(n))
        fallback = singular if n == 1 else plural
        return _fill(self.translations.ngettext(singular, plural, n), fallback, variables)

    def format_date(self, value: date | datetime | None) -> str | None:
        """"10 August 2020", "10 de agosto de 2020", "10 août 2020"; None stays None."""
        if value is None:
            return None
        day = value.date() if isinstance(value, datetime) else value
        return babel_format_date(day, format="long", locale=self.locale)

    def format_number(self, n: int | float) -> str:
        return format_decimal(n, locale=self.locale)

    @functools.cached_property
    def _template_callables(self) -> dict[str, Callable[..., Any]]:
        return {"gettext": _jinja_gettext(self), "_": _jinja_gettext(self), "ngettext": _jinja_ngettext(self)}

    def template_globals(self) -> dict[str, Any]:
        """What a Jinja render needs for {{ _("…") }}, {% trans %} and ngettext, plus
        `lang` and `dir` for the page. The callables are the same objects every time."""
        return {**self._template_callables, "lang": self.code, "dir": self.direction}


def chrome_for(languages: Sequence[str], locale_dir: Path = LOCALE_DIR) -> Chrome:
    """The chrome for a reader whose languages are `languages`: the first, if it has a
    catalogue (or its main language has: "es-419" reads Spanish), else English."""
    first = (languages[0] if languages else SOURCE_LANGUAGE).strip().lower().replace("_", "-")
    available = catalogue_languages(locale_dir)
    for code in (first, first.partition("-")[0]):
        if code in available and code != SOURCE_LANGUAGE:
            return load_chrome(code, locale_dir)
    return load_chrome(SOURCE_LANGUAGE, locale_dir)


@functools.lru_cache(maxsize=64)
def load_chrome(code: str, locale_dir: Path = LOCALE_DIR) -> Chrome:
    """The chrome of catalogue `code` (the templates' English wording when it has none;
    the `en` catalogue may reword the English)."""
    translations: gettext_module.NullTranslations = gettext_module.NullTranslations()
    loaded = Translations.load(str(locale_dir), [code], DOMAIN)
    if isinstance(loaded, Translations):  # Babel returns NullTranslations when there is no .mo
        translations = loaded
    return Chrome(code, babel_locale(code), translations)


@functools.lru_cache(maxsize=16)
def catalogue_languages(locale_dir: Path = LOCALE_DIR) -> frozenset[str]:
    """Languages with a compiled catalogue, and English (the templates' own)."""
    found = {path.parent.parent.name.lower() for path in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return frozenset(found | {SOURCE_LANGUAGE})


@functools.lru_cache(maxsize=256)
def babel_locale(code: str) -> Locale:
    """Babel's locale for a site language code ("zh-hans", "pt", "ar"); English when unknown."""
    wanted = _REGIONAL_CONVENTIONS.get(code, code).replace("-", "_")
    try:
        return Locale.parse(wanted)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(_REGIONAL_CONVENTIONS[SOURCE_LANGUAGE])


def text_direction(code: str) -> str:
    """"rtl" when language `code` is written right to left, else "ltr"."""
    return "rtl" if babel_locale(code).character_order == "right-to-left" else "ltr"


def _fill(translated: str, original: str, variables: dict[str, Any]) -> str:
    if not variables:
        return translated
    try:
        return translated % variables
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("translation of %r does not fit its placeholders (%s): English shown", original, exc)
        return original % variables


def _jinja_gettext(chrome: Chrome) -> Callable[..., str]:
    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        return _escaped(context, chrome.gettext, (message,), variables)

    return gettext


def _jinja_ngettext(chrome: Chrome) -> Callable[..., str]:
    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        return _escaped(context, chrome.ngettext, (singular, plural, n), variables)

    return ngettext


def _escaped(context: Context, translate: Callable[..., str], args: tuple[Any, ...], variables: dict[str, Any]) -> str:
    """As Jinja's newstyle gettext: in an autoescaped template the catalogue's text is
    markup and the variables are escaped into it."""
    if not context.eval_ctx.autoescape:
        return translate(*args, **variables)
    escaped = {name: Markup.escape(value) for name, value in variables.items()}
    # The catalogue's text is markup (<strong>, links), but a bare "&" ("Business & Human
    # Rights") is text: written as &amp;, as the HTML standard expects.
    return Markup(_BARE_AMPERSAND.sub("&amp;", translate(*args, **escaped)))
