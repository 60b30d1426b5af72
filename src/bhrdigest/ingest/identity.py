"""Which feed items are the same component, whatever URL, feed or language they come under.

    canonical_url("http://WWW.Business-HumanRights.org/ja/%E6%9C%80%E6%96%B0…/slug?utm_source=x#top")
        -> "https://business-humanrights.org/ja/%E6%9C%80%E6%96%B0…/slug/"
    component_key(link=…, guid=…, guid_unique=…, title=…, description=…) -> 32 hex chars

Identity, strongest first:
  1. a business-humanrights.org news URL: the slug alone, so /en/latest-news/<slug>/,
     /ja/最新ニュース/<slug>/, /es/últimas-noticias/<slug>/ and the older /en/<slug> are one;
  2. the GUID, when it is unique in its feed (publishers reuse GUIDs by mistake);
  3. the canonical link;
  4. a hash of the title and description.
The key is a real hash (sha256), never a CRC: a 32-bit checksum collides.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

BHRRC_HOST = "business-humanrights.org"

# Query parameters that only say how a reader arrived; they never change the page.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "referrer", "_ga", "_gl",
        "_hsenc", "_hsmi", "igshid", "mkt_tok", "cmpid", "s_cid", "vero_id", "spm",
        "oly_anon_id", "oly_enc_id", "rb_clickid", "wt_mc",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

# The "latest news" section of the site in each language it is published in.
# Compared after NFC + casefold; a component keeps its slug across all of them.
_NEWS_SECTIONS = frozenset(
    unicodedata.normalize("NFC", name).casefold()
    for name in (
        "latest-news", "最新ニュース", "últimas-noticias", "dernières-actualités",
        "neuigkeiten", "últimas-notícias", "最新消息", "最新新闻", "최신-뉴스",
        "آخر-الأخبار", "последние-новости", "останні-новини", "ultime-notizie",
        "son-haberler", "berita-terbaru", "tin-mới-nhất", "ข่าวล่าสุด",
    )
)  # fmt: skip

# ISO 639-1: a first path segment counts as a language only if it is one of these.
_ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs
    cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he
    hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr
    ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng
    nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk
    sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz
    ve vi vo wa wo xh yi yo za zh zu""".split()  # noqa: SIM905 - 184 codes read better as words
)
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2})(?:[-_][A-Za-z0-9]{2,8})*$")
# Characters left raw in a path segment; everything else is percent-encoded (UTF-8).
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


def canonical_url(url: str) -> str:
    """The one spelling of a web URL that every variant of it maps to.

    https, host lower-cased without `www.` and default port, path segments
    percent-decoded, NFC-normalised and re-encoded, fragment and tracking
    parameters dropped, the rest of the query sorted. Trailing slash: always
    present on business-humanrights.org paths (the site's own form), removed
    elsewhere. Anything that is not an http(s) URL (a GUID such as
    "210455 at https://…", a tag: URI) comes back trimmed and otherwise unchanged.
    """
    text = url.strip()
    if text.startswith("//"):
        text = "https:" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # e.g. "http://host:notaport/" or a bad IPv6 literal
        return text
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return text
    host = _normalise_host(parts.hostname)
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = _normalise_path(parts.path, trailing_slash=is_bhrrc_host(host))
    return urlunsplit(("https", netloc, path, _normalise_query(parts.query), ""))


def published_url(url: str) -> str:
    """The URL as the site published it, for readers to click: host, path and the
    rest as given (`www.` kept), only tracking parameters and the fragment removed
    (`?utm_source=rss` would count our readers as the feed's)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # a bad IPv6 literal: left as given
        return url.strip()
    if parts.scheme.lower() not in ("http", "https") or not parts.query and not parts.fragment:
        return url.strip()
    kept = [pair for pair in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(pair[0])]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept, quote_via=quote, safe="/:"), ""))


def is_bhrrc_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == BHRRC_HOST or host.endswith("." + BHRRC_HOST)


def language_from_url(url: str) -> str | None:
    """The language of a page from its /xx/ path prefix ("ja" for /ja/最新ニュース/…), or None."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    segments = [s for s in path.split("/") if s]
    return _language_segment(segments[0]) if segments else None


def component_key(
    *, link: str | None, guid: str | None, guid_unique: bool, title: str, description: str
) -> str:
    """The component's identity as 32 hex characters (fits String(64) with room to spare)."""
    identity = component_identity(
        link=link, guid=guid, guid_unique=guid_unique, title=title, description=description
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def component_identity(
    *, link: str | None, guid: str | None, guid_unique: bool, title: str, description: str
) -> str:
    """The readable string the key hashes; handy when debugging a duplicate."""
    link = (link or "").strip()
    guid = (guid or "").strip()
    guid_url = guid if _is_web_url(guid) else ""
    for candidate in (link, guid_url):
        if candidate and (site := _bhrrc_identity(candidate)):
            return site
    if guid and guid_unique:
        return "guid:" + (canonical_url(guid) if guid_url else guid)
    if link or guid_url:
        return "url:" + canonical_url(link or guid_url)
    content = " ".join(title.split()) + "\n" + " ".join(description.split())
    return "content:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


def _bhrrc_identity(url: str) -> str | None:
    """`bhrrc:news:<slug>` for a news page of the site, whatever its language or era."""
    canonical = canonical_url(url)
    parts = urlsplit(canonical)
    if not parts.hostname or not is_bhrrc_host(parts.hostname):
        return None
    segments = [_folded(unquote(s)) for s in parts.path.split("/") if s]
    if segments and _language_segment(segments[0]):
        segments = segments[1:]
    if not segments or segments[-1] in _NEWS_SECTIONS:
        return None  # the site itself or a listing page: not one component
    if len(segments) == 1 or (len(segments) == 2 and segments[0] in _NEWS_SECTIONS):
        return "bhrrc:news:" + segments[-1]  # /en/<slug> (older site) or /xx/<news>/<slug>/
    # Another section (blog, briefings…): language-independent, but not merged with news.
    return "bhrrc:path:" + "/".join(segments)


def _language_segment(segment: str) -> str | None:
    match = _LANGUAGE_TAG.match(segment)
    if match and match.group(1).lower() in _ISO_639_1:
        return match.group(1).lower()
    return None


def _is_web_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://", "//"))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _normalise_host(hostname: str) -> str:
    host = hostname.lower().rstrip(".")
    # One spelling for internationalised hosts: the ASCII (punycode) form.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return host[4:] if host.startswith("www.") else host


def _normalise_path(path: str, *, trailing_slash: bool) -> str:
    # Segment by segment, so an encoded slash (%2F) stays inside its segment.
    segments = [
        quote(unicodedata.normalize("NFC", unquote(s)), safe=_SEGMENT_SAFE)
        for s in path.split("/")
        if s
    ]
    if not segments:
        return "/"
    joined = "/" + "/".join(segments)
    if trailing_slash and "." not in segments[-1]:  # not for files such as report.pdf
        return joined + "/"
    return joined


def _normalise_query(query: str) -> str:
    pairs = [
        (unicodedata.normalize("NFC", k), unicodedata.normalize("NFC", v))
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k and not _is_tracking(k)
    ]
    return urlencode(sorted(pairs), quote_via=quote, safe="")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)
