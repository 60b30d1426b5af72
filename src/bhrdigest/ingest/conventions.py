"""The Resource Centre's conventions: what its lines and titles mean. Pure text work.

    read_site_lines(blocks) -> SiteLines   an excerpt's blocks, with the site's own
                                           lines taken out and read
    classify_title(title)   -> (Kind, the company that responded or did not)
    split_company_names(text), parse_human_date(text)

The site writes some facts into the excerpt itself, by habit rather than markup:
the `Author:` line (with `Published on:` on the older site), the quoted source
headline and date, `[Also referred to …]` and `Related companies:` markers,
inline translations (`+ 日本語 - Hide`) and "Read the full post here". Titles
say whether a company responded ("X responds", "X did not respond", in several
languages). parse.py hands the cleaned blocks here and builds entries from the result.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bhrdigest.ingest.text import (
    Block,
    blocks_to_text,
    truncate_blocks,
    truncate_text,
    unescape_all,
)
from bhrdigest.model import Kind, Translation

log = logging.getLogger(__name__)

# A component's title and excerpt at most; parse.py applies the same limits.
MAX_TITLE_CHARS = 1_000
MAX_EXCERPT_CHARS = 20_000


# --- the excerpt: lines the site adds by convention ---------------------------------------


@dataclass(frozen=True, slots=True)
class SiteLines:
    blocks: tuple[Block, ...]
    author: str | None
    source_title: str | None
    source_date: date | None
    markers: tuple[str, ...]  # every company a marker names
    translations: tuple[Translation, ...]
    mentions: tuple[str, ...] = ()  # of those, the ones only `[Also referred to …]` names
    mention_line: str = ""  # the `[Also referred to …]` text, as written


def read_site_lines(blocks: tuple[Block, ...]) -> SiteLines:
    """The excerpt without the site's own lines, and what those lines said."""
    main, translations = _split_translations(blocks)
    main, author, published_on = _take_author(main)
    source_title, source_date, main = _take_source_line(main, dated_by_author_line=published_on is not None)
    markers, mentions, mention_line, main = _take_markers(main)
    return SiteLines(
        blocks=tuple(b for b in main if not _READ_MORE.match(b.text)),
        author=author,
        source_title=source_title,
        source_date=source_date or published_on,
        markers=markers,
        translations=translations,
        mentions=mentions,
        mention_line=mention_line,
    )


_AUTHOR_LINE = re.compile(
    r"^(?:Authors?|Autor(?:es|a)?|Auteurs?|著者|作者)\s*[:：]\s*(?P<author>.+?)"
    r"(?:\s*,?\s*Published\s+on\s*[:：]\s*(?P<date>.+))?$",
    re.IGNORECASE,
)
_READ_MORE = re.compile(
    r"^(?:read the full (?:post|article|story|report|statement)(?: here)?"
    r"|lea (?:la publicación|el artículo) completo? aquí"
    r"|lire l['’]article (?:complet|intégral) ici|(?:記事)?全文(?:を読む|はこちら))\s*[.。]?$",
    re.IGNORECASE,
)


def _take_author(blocks: list[Block]) -> tuple[list[Block], str | None, date | None]:
    """`Author: Guardian, Published on: 22 March 2016` -> ("Guardian", 2016-03-22)."""
    author, published_on, rest = None, None, []
    for block in blocks:
        match = _AUTHOR_LINE.match(block.text)
        if match and not block.container:
            if author is None:
                author = truncate_text(match["author"].strip(" ,;"), 300) or None
                published_on = parse_human_date(match["date"] or "")
            continue
        rest.append(block)
    return rest, author, published_on


_SOURCE_LINE = re.compile(
    r"^[“\"«„「『‘'](?P<title>.+)[”\"»“」』’'](?:\s*[,，、]?\s*(?P<date>[^,，、\"“”]{6,40}))?$"
)


def _take_source_line(
    blocks: list[Block], *, dated_by_author_line: bool
) -> tuple[str | None, date | None, list[Block]]:
    """The first line `“Headline”, 13 July 2021` names the source; it leaves the excerpt.

    The older site put the date on the Author line and the bare quoted headline first;
    only then is an undated quoted line a headline (otherwise it may be a quotation).
    """
    if not blocks or blocks[0].container or not (match := _SOURCE_LINE.match(blocks[0].text)):
        return None, None, blocks
    title = truncate_text(match["title"].strip(), MAX_TITLE_CHARS)
    if match["date"] is None:
        return (title, None, blocks[1:]) if dated_by_author_line else (None, None, blocks)
    if day := parse_human_date(match["date"]):
        return title, day, blocks[1:]
    return None, None, blocks


_MARKERS = (
    re.compile(r"\[\s*(?:also\s+)?refer(?:red|s)?\s+to\s*:?\s*(?P<names>[^\]]*)\]", re.IGNORECASE),
    # "(refers to …)" only closing a paragraph: mid-sentence it is ordinary prose.
    re.compile(r"\(\s*(?:also\s+)?refer(?:red|s)?\s+to\s*:?\s*(?P<names>(?:[^()]|\([^()]*\))*)\)(?=\W*$)", re.I),
    re.compile(r"^related\s+compan(?:y|ies)\s*[:：]\s*(?P<names>.*)$", re.IGNORECASE),
)


def _take_markers(blocks: list[Block]) -> tuple[tuple[str, ...], tuple[str, ...], str, list[Block]]:
    """(every marker company, the ones only mentioned, the mention line, the rest of the excerpt).

    `[Also referred to A, B]` (and `(refers to …)`) lists companies the story mentions;
    `Related companies:` lists those it is about. A line that is only a marker leaves the
    excerpt; the mention line is kept to show a reader why a mention matched.
    """
    names: list[str] = []
    subjects: list[str] = []
    mentioned: list[str] = []
    lines: list[str] = []
    rest: list[Block] = []
    listing = False  # after a bare "Related companies:", the next short lines are names
    for block in blocks:
        if listing and _looks_like_name_line(block):
            listed = split_company_names(block.text)
            subjects.extend(listed)
            names.extend(listed)
            continue
        listing = False
        residue = block
        for pattern in _MARKERS:
            for match in pattern.finditer(block.text):
                found = match["names"].strip()
                related = pattern is _MARKERS[2]
                if related and block.link_texts:
                    found_names = [_clean_company_name(t) for t in block.link_texts]  # links split cleanly
                else:
                    found_names = list(split_company_names(found)) if found else []
                    listing = related and not found
                (subjects if related else mentioned).extend(found_names)
                names.extend(found_names)
                if not related and found_names:
                    lines.append(" ".join(match.group(0).split()))
                residue = _without(residue, match.group(0))
        if residue.text.strip(" .,;:–-") or block.container:
            rest.append(residue)
    about = {name.casefold() for name in subjects}
    only_mentioned = tuple(dedupe(n for n in mentioned if n.casefold() not in about))
    return tuple(dedupe(names)), only_mentioned, " ".join(lines), rest


def _without(block: Block, marker: str) -> Block:
    """The block minus an inline marker, when the marker is plain text in its markup too."""
    escaped = htmllib.escape(marker, quote=False)
    if block.container or escaped not in block.html:
        return Block(block.html, block.text.replace(marker, ""), block.soft, block.container, block.link_texts)
    html = re.sub(r"\s+(?=</|$)", "", block.html.replace(escaped, "").rstrip())
    text = " ".join(block.text.replace(marker, "").split())
    return Block(html, text, block.soft, block.container, block.link_texts)


def _looks_like_name_line(block: Block) -> bool:
    text = block.text
    return (
        not block.container
        and len(text) <= 80
        and not text.endswith((".", "…", "!", "?"))
        and not _READ_MORE.match(text)
        and not _AUTHOR_LINE.match(text)
    )


_LEGAL_SUFFIX = re.compile(r"^(?:inc|ltd|llc|plc|corp|co|s\.?a|a\.?g|gmbh|n\.?v|b\.?v|limited|l\.?p)\.?$", re.I)


def split_company_names(text: str) -> tuple[str, ...]:
    """`A, B & C` -> (A, B, C); `Acacia (formerly African Barrick Gold)` -> Acacia.

    Commas (and 、 ;) always separate. " & " and " and " separate only in the
    last comma-separated part, so "Procter & Gamble, Unilever" keeps its name.
    """
    text = re.sub(r"\)\s+(?=\S)", ")\x1f", unescape_all(text))  # "Acacia (formerly X) Barrick Gold"
    parts = [p.strip() for p in re.split(r"[,;\x1f、，]", text)]
    merged: list[str] = []
    for part in parts:
        if merged and _LEGAL_SUFFIX.match(part):
            merged[-1] = f"{merged[-1]}, {part}"  # "Apple, Inc." is one name
        elif part:
            merged.append(part)
    if merged:
        merged[-1:] = re.split(r"\s+(?:&|and)\s+", merged[-1])
    return tuple(dedupe(_clean_company_name(name) for name in merged))


def _clean_company_name(name: str) -> str:
    """`Acacia (formerly African Barrick Gold)` -> `Acacia`; over-long text -> ''."""
    name = re.sub(r"\s*\([^)]*\)?\s*$", "", name).strip(" :;\"“”'")
    return name if len(name) <= 120 else ""


# --- inline translations ------------------------------------------------------------------

_TRANSLATION_HEADER = re.compile(r"^\+\s*(?P<name>[^+]{1,40}?)\s*[-–—]\s*(?:hide|show)\s*$", re.IGNORECASE)
_LANGUAGE_NAMES = {
    "日本語": "ja", "japanese": "ja", "english": "en", "español": "es", "spanish": "es",
    "français": "fr", "french": "fr", "deutsch": "de", "german": "de", "português": "pt",
    "portuguese": "pt", "中文": "zh", "简体中文": "zh", "繁體中文": "zh", "chinese": "zh",
    "한국어": "ko", "korean": "ko", "العربية": "ar", "arabic": "ar", "русский": "ru",
    "russian": "ru", "українська": "uk", "ukrainian": "uk", "bahasa indonesia": "id",
    "tiếng việt": "vi", "ไทย": "th", "italiano": "it", "türkçe": "tr", "မြန်မာ": "my",
    "burmese": "my", "polski": "pl", "nederlands": "nl", "kiswahili": "sw", "हिन्दी": "hi",
    "فارسی": "fa", "עברית": "he", "bahasa melayu": "ms", "română": "ro", "magyar": "hu",
}  # fmt: skip


def _split_translations(blocks: tuple[Block, ...]) -> tuple[list[Block], tuple[Translation, ...]]:
    """`+ 日本語 - Hide`, then that language's author line and text, up to the next header."""
    main: list[Block] = []
    sections: list[tuple[str, list[Block]]] = []
    for block in blocks:
        header = None if block.container else _TRANSLATION_HEADER.match(block.text)
        if header:
            name = header["name"].strip()
            if (language := _LANGUAGE_NAMES.get(name.casefold())) is None:
                log.debug("inline translation in unknown language %r kept as 'und'", name)
            sections.append((language or "und", []))
        elif sections:
            sections[-1][1].append(block)
        else:
            main.append(block)
    translations = {}
    for language, section in sections:
        rest, author, _ = _take_author(section)
        rest = [b for b in rest if not _READ_MORE.match(b.text)]
        text = blocks_to_text(truncate_blocks(tuple(rest), MAX_EXCERPT_CHARS))
        translations[language] = Translation(language=language, title="", url="", author=author, excerpt_text=text)
    return main, tuple(translations.values())


# --- titles: response, non-response, article ----------------------------------------------

_CO = r"(?P<co>[^:：]{1,120}?)"
_OF = (
    r"(?:de\s+(?:la\s+|l['’]|el\s+)?|del\s+|d['’]|von\s+|der\s+|des\s+|by\s+|from\s+|of\s+"
    r"|d[ao]s?\s+|di\s+|dell['’]|della\s+|dello\s+)"
)
_NON_RESPONSE = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_CO}\s+(?:did\s+not|didn['’]t|does\s+not|has\s+not|have\s+not|failed\s+to|declined\s+to"
        rf"|refused\s+to|chose\s+not\s+to)\s+respond\b",
        rf"^{_CO}\s+no\s+(?:respondi[óo]|responde|ha\s+respondido)\b",
        rf"^(?:sin|falta\s+de)\s+respuesta\s+{_OF}(?P<co>.+)$",
        rf"^(?:la\s+)?(?:non[-\s]r[ée]ponse|absence\s+de\s+r[ée]ponse)\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s*[:：–-]?\s*non[-\s]r[ée]ponse\b",
        rf"^{_CO}\s+n['’]a\s+pas\s+r[ée]pondu\b",
        rf"^{_CO}\s+hat\s+nicht\s+geantwortet\b",
        rf"^keine\s+(?:stellungnahme|antwort)\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s*[:：–-]?\s*keine\s+(?:stellungnahme|antwort)\b",
        rf"^{_CO}\s+n[ãa]o\s+respondeu\b",
        rf"^(?:a\s+)?n[ãa]o[-\s]resposta\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s+non\s+ha\s+risposto\b",
        rf"^{_CO}\s+не\s+ответил[аио]?\b",
        rf"^{_CO}\s*[はが]?(?:回答しなかった|回答なし|返答なし|回答せず)",
        rf"^{_CO}\s*(?:未|没有|沒有)(?:回应|回應|答复|答覆)",
        rf"^{_CO}\s*(?:무응답|답변하지\s*않)",
    )
)
_RESPONSE = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_CO}['’]s?\s+(?:[\w-]+\s+)?(?:response|responses|reply|replies)\b",
        rf"^{_CO}\s+(?:responds|responded|replies|replied)\b",
        rf"^(?:the\s+|la\s+|die\s+|a\s+)?(?:response|reply|respuesta|r[ée]ponse|stellungnahme|antwort|resposta"
        rf"|risposta)\s+{_OF}(?P<co>.+)$",
        r"^ответ\s+(?:компании\s+)?(?P<co>.+)$",
        rf"^{_CO}\s+(?:respuesta|responde|respondi[óo]|r[ée]pond|a\s+r[ée]pondu|antwortet|respondeu"
        rf"|risponde)\b",
        rf"^{_CO}\s*[:：–-]?\s+stellungnahme\b",
        rf"^{_CO}\s*(?:の|による)?(?:回答|返答|反論)\s*$",
        rf"^{_CO}\s*(?:的|之)?(?:回应|回應|答复|答覆)\s*$",
        rf"^{_CO}\s*(?:의)?\s*(?:답변|응답|입장)\s*$",
    )
)
# "NSO Group response": no apostrophe, so only a name-like company counts (not
# "Community response to mine expansion", "Investor response").
_BARE_RESPONSE = re.compile(rf"^{_CO}\s+(?i:response|reply)(?:\s+(?i:to|on|regarding|about)\b.*)?$")
# "Response by X to the open letter": the company ends where the subject begins.
_COMPANY_TAIL = re.compile(r"\s+(?:to|regarding|about|on|a|al|sobre|ante|à|au|aux|sur|zu|zum|zur|auf|über)\s+.*$", re.I)
# "Respuesta de la empresa X": the word for "company" is not part of the name.
_COMPANY_WORD = re.compile(
    r"^(?:the\s+company|company|(?:la\s+)?empresa|(?:l['’])?entreprise|(?:la\s+)?soci[ée]t[ée]|(?:die\s+)?firma"
    r"|(?:das\s+)?unternehmen|(?:a\s+)?empresa|компании)\s+",
    re.I,
)
# Who else "responds" in titles: not companies, whatever the grammar says.
_NOT_COMPANIES = frozenset(
    [
        "government", "governments", "company", "companies", "investor", "investors", "community",
        "communities", "union", "unions", "worker", "workers", "industry", "official", "officials",
        "ministry", "police", "state", "public", "ngo", "ngos", "un", "eu", "civil society",
        "activist", "activists", "brand", "brands", "employer", "employers", "court", "regulator",
    ]
)  # fmt: skip


def classify_title(title: str) -> tuple[Kind, str | None]:
    """(kind, the company that responded or did not) from a component's title."""
    candidates = [title]
    if (cut := max(title.rfind(":"), title.rfind("："))) > 0:
        candidates.append(title[cut + 1 :].strip())  # after a place prefix: "Israel: X responds"
    for kind, patterns in ((Kind.COMPANY_NON_RESPONSE, _NON_RESPONSE), (Kind.COMPANY_RESPONSE, _RESPONSE)):
        for text in candidates:
            for pattern in patterns:
                if (match := pattern.match(text)) and (company := _company_name(match["co"])):
                    return kind, company
    for text in candidates:
        match = _BARE_RESPONSE.match(text)
        if match and (company := _company_name(match["co"])) and _looks_like_a_name(company):
            return Kind.COMPANY_RESPONSE, company
    return Kind.ARTICLE, None


def _company_name(raw: str) -> str | None:
    name = _COMPANY_TAIL.sub("", raw).strip(" \"“”'‘’«»「」.,;:")
    name = _COMPANY_WORD.sub("", name)
    # A long "company" is a sentence ("Workers say the firm did not respond"), not a name.
    if not name or len(name) > 80 or len(name.split()) > 8 or name.casefold() in _NOT_COMPANIES:
        return None
    return name


def _looks_like_a_name(text: str) -> bool:
    """`NSO Group`, `H&M`, `3M`, `Bank of America`: each word capitalised but short joiners."""
    words = text.split()
    return all(w[0].isupper() or not w[0].isalpha() or w in ("of", "and", "&", "de", "du", "la") for w in words)


# --- dates --------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan enero janvier januar jänner janeiro",
            "february feb febrero février fevrier februar fevereiro",
            "march mar marzo mars märz maerz março",
            "april apr abril avril",
            "may mayo mai maio",
            "june jun junio juin juni junho",
            "july jul julio juillet juli julho",
            "august aug agosto août aout",
            "september sep sept septiembre setiembre septembre setembro",
            "october oct octubre octobre oktober outubro",
            "november nov noviembre novembre novembro",
            "december dec diciembre décembre decembre dezember dezembro",
        ),
        start=1,
    )
    for name in names.split()
}
_HUMAN_DATES = (
    re.compile(r"^(?P<d>\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?(?P<m>[^\W\d_]+)\.?\s+(?:de\s+)?(?P<y>\d{4})$"),
    re.compile(r"^(?P<m>[^\W\d_]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日$"),
)


def parse_human_date(text: str) -> date | None:
    """`13 July 2021`, `July 13, 2021`, `2 de junio de 2019`, `13. Juli 2021`, `2021年7月13日`."""
    text = text.strip().rstrip(".")
    for pattern in _HUMAN_DATES:
        if match := pattern.match(text):
            month = match["m"]
            number = int(month) if month.isdigit() else _MONTHS.get(month.casefold())
            try:
                return date(int(match["y"]), number, int(match["d"])) if number else None
            except ValueError:
                return None
    return None


# --- shared -------------------------------------------------------------------------------


def dedupe(names: Any) -> list[str]:
    """Trimmed, non-empty, first spelling kept, compared case-insensitively."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        name = (name or "").strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out
