"""Which language codes a subscriber may follow, and what they probably meant when it is wrong.

`languages: [jp]` used to be accepted and the subscriber silently lost Japanese: a code must be
one the Resource Centre publishes in, or a language Babel knows (the site may add it). A country
code given by mistake gets that country's language as the suggestion (jp -> ja, cn -> zh-hans).
"""

from __future__ import annotations

import functools
import re

from babel.languages import get_official_languages
from babel.localedata import locale_identifiers

from bhrdigest.config.yaml_reader import did_you_mean

# The languages business-humanrights.org publishes in (its /<code>/ paths and feeds' language=).
SITE_LANGUAGES = ("en", "es", "fr", "pt", "de", "it", "ru", "ar", "tr", "zh-hans", "zh-hant", "ja", "ko", "my")


# Chinese is published by script; the regions whose Chinese is written in traditional characters.
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


def site_language(code: str) -> str | None:
    """The site's code for a reader's `code`: itself (any case), or the site language a regional
    code belongs to (pt-BR -> pt, es-419 -> es, ja-JP -> ja, zh-CN -> zh-hans, zh-TW -> zh-hant);
    None when the site has neither."""
    code = code.strip().lower().replace("_", "-")
    primary, *subtags = code.split("-")
    if primary == "zh":
        traditional = "hant" in subtags or not {"hans"} & set(subtags) and _TRADITIONAL_REGIONS & set(subtags)
        return "zh-hant" if traditional else "zh-hans"
    for candidate in (code, primary):
        if candidate in SITE_LANGUAGES:
            return candidate
    return None


# The shape of a language code (BCP 47: en, pt-BR, zh-Hant); which codes are known is language_problem's.
LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def canonical_language(code: str) -> str:
    """BCP 47 casing: pt-br -> pt-BR, zh-hant -> zh-Hant."""
    primary, *rest = code.split("-")
    subtags = [s.upper() if len(s) == 2 else s.title() if len(s) == 4 else s.lower() for s in rest]
    return "-".join([primary.lower(), *subtags])


def language_problem(code: str) -> str | None:
    """None for a known language code, else what is wrong and what was probably meant."""
    if code.lower() in SITE_LANGUAGES or _babel_knows(code) or _chinese_by_region(code):
        return None
    return f"{code!r} is not a known language code{_suggestion(code)} (the site's: {', '.join(SITE_LANGUAGES)})"


def _babel_knows(code: str) -> bool:
    # Exactly a locale of Babel's CLDR data: Locale.parse would turn zh-hanz into zh-Hans, en-ZZ into en-US.
    return code.lower() in _babel_codes()


def _chinese_by_region(code: str) -> bool:
    """zh-CN, zh-TW, zh-HK…: the region codes people (and browsers) use for Chinese, which CLDR
    lists only under their script (zh-Hans-CN, zh-Hant-TW)."""
    primary, _, region = code.lower().replace("_", "-").partition("-")
    return primary == "zh" and any(f"zh-{script}-{region}" in _babel_codes() for script in ("hans", "hant"))


@functools.cache
def _babel_codes() -> frozenset[str]:
    return frozenset(identifier.replace("_", "-").lower() for identifier in locale_identifiers())


def _suggestion(code: str) -> str:
    spoken = get_official_languages(code.upper()) if len(code) == 2 else ()
    if spoken:  # a country code: jp -> ja
        on_site = [c for c in SITE_LANGUAGES if c.split("-")[0] == spoken[0]]
        return f"; did you mean {(on_site or [spoken[0]])[0]!r}?"
    return did_you_mean(code.lower(), SITE_LANGUAGES)
