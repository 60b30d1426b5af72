"""Telegram alert texts: pure functions from queued alerts to HTML-parse-mode messages.

Every feed-derived string is escaped here and nowhere else. Messages are split only
between alerts (never inside a tag or an entity), and one alert is made small enough
to always fit in one message, so each alert travels in exactly one message and the
store can mark it sent with that message.

Telegram counts a message's length in UTF-16 code units after parsing the HTML. We
budget the *unparsed* HTML instead: it is never shorter, so a message within our
budget is within Telegram's limit whatever the escaping added.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bhrdigest.i18n import N_, Chrome, load_chrome
from bhrdigest.model import Alert, Kind

MAX_MESSAGE = 4096  # Telegram's limit for a text message

TITLE_LIMIT = 300  # characters of plain text before escaping
EXCERPT_LIMIT = 280
SOURCE_LIMIT = 120
NAME_LIMIT = 80  # one company or place name
MAX_NAMES = 5  # companies or places listed in one alert
URL_LIMIT = 1000  # longer links are shown unlinked rather than risk the budget

_KIND_LABELS = {
    Kind.COMPANY_RESPONSE: ("🟢", N_("Company response")),
    Kind.COMPANY_NON_RESPONSE: ("🔴", N_("Company did not respond")),
    Kind.ARTICLE: ("📰", N_("Article")),
}

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One Telegram message (HTML parse mode) and the alerts it carries."""

    text: str
    keys: tuple[str, ...]
    more: int = 0  # alerts told only as "…and N more" at its end

    @property
    def disable_preview(self) -> bool:
        # A preview would show only the first link of a multi-alert message.
        return len(self.keys) > 1


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str) -> str:
    """Escape plain text for Telegram HTML: only &, < and > need it outside attributes."""
    return html.escape(text, quote=False)


def format_alerts(
    alerts: Sequence[Alert], *, limit: int = MAX_MESSAGE, more: int = 0, chrome: Chrome | None = None
) -> list[AlertMessage]:
    """The messages that tell one chat about `alerts`, in order, and of `more` in one line,
    worded in `chrome`'s language (English when None).

    Several alerts share a message (a burst becomes one message, not forty);
    a message is split only between alerts, so no tag or entity is ever cut.
    """
    if not alerts:
        return []
    t = chrome or load_chrome("en")
    footer = _more_line(more, t)
    limit -= telegram_length(footer) + 2 if footer else 0
    blocks = [(alert.key, render_alert(alert, limit=limit, chrome=t)) for alert in alerts]
    total = len(alerts) + more
    header = _bold(t.ngettext("%(num)s new item on companies you track", "%(num)s new items on companies you track",
                              total)) if total > 1 else ""
    messages: list[AlertMessage] = []
    parts: list[str] = [header] if header else []
    keys: list[str] = []
    for key, block in blocks:
        candidate = "\n\n".join([*parts, block])
        if keys and telegram_length(candidate) > limit:
            messages.append(AlertMessage("\n\n".join(parts), tuple(keys)))
            parts, keys = [block], [key]
        elif not keys and telegram_length(candidate) > limit:
            parts, keys = [block], [key]  # the header alone cannot push a block out
        else:
            parts.append(block)
            keys.append(key)
    if footer:
        parts.append(footer)
    messages.append(AlertMessage("\n\n".join(parts), tuple(keys), more))
    return messages


def _bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def _more_line(more: int, t: Chrome) -> str:
    if not more:
        return ""
    text = t.ngettext(
        "…and %(num)s more item on companies you track: too many to send one by one. "
        "See the Resource Centre's latest news, or your weekly digest.",
        "…and %(num)s more items on companies you track: too many to send one by one. "
        "See the Resource Centre's latest news, or your weekly digest.",
        more,
    )
    return f"<i>{escape(text)}</i>"


def render_alert(alert: Alert, *, limit: int = MAX_MESSAGE, chrome: Chrome | None = None) -> str:
    """One alert as an HTML block that fits in `limit`, shrinking it if it must.

    Field caps keep ordinary alerts short; the fallbacks cover hostile input (a
    title of ampersands grows fivefold when escaped).
    """
    t = chrome or load_chrome("en")
    for excerpt_limit, linked in ((EXCERPT_LIMIT, True), (0, True), (0, False)):
        block = _render(alert, t, excerpt_limit=excerpt_limit, linked=linked)
        if telegram_length(block) <= limit:
            return block
    # At most ~560 units: 100 characters escaped fivefold plus the label.
    return f"{_label(alert, t)}\n{escape(shorten(alert.title, 100))}"


def _label(alert: Alert, t: Chrome) -> str:
    emoji, label = _KIND_LABELS.get(alert.kind, _KIND_LABELS[Kind.ARTICLE])
    return f"{emoji} {_bold(t.gettext(label))}"


def _render(alert: Alert, t: Chrome, *, excerpt_limit: int, linked: bool) -> str:
    lines = [_headline(alert, t)]
    title = escape(shorten(alert.title, TITLE_LIMIT)) or escape(t.gettext("(untitled)"))
    href = safe_href(alert.url) if linked else None
    lines.append(f'<a href="{href}">{title}</a>' if href else title)
    places = _names(alert.places)
    if places:
        lines.append(f"📍 {places}")
    if alert.source and alert.source.strip():
        lines.append(escape(t.gettext("Source: %(source)s", source=shorten(alert.source, SOURCE_LIMIT))))
    excerpt = shorten(alert.excerpt, excerpt_limit) if excerpt_limit else ""
    if excerpt:
        lines.append(f"<i>{escape(excerpt)}</i>")
    return "\n".join(lines)


def _headline(alert: Alert, t: Chrome) -> str:
    label = _label(alert, t)
    companies = _names(alert.companies)
    return f"{label} · {companies}" if companies else label


def _names(names: Sequence[str]) -> str:
    shown = [shorten(n, NAME_LIMIT) for n in names[:MAX_NAMES] if n and n.strip()]
    more = f" +{len(names) - MAX_NAMES}" if len(names) > MAX_NAMES else ""
    return escape(", ".join(shown)) + more


def shorten(text: str, limit: int) -> str:
    """`text` with whitespace collapsed, cut at a word boundary to `limit` characters.

    Cutting happens on plain text, before escaping, so an entity is never cut.
    """
    text = _SPACE.sub(" ", text or "").strip()
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def safe_href(url: str) -> str | None:
    """`url` escaped for an href, or None when it is not a plain http(s) link.

    Feed links are untrusted: `javascript:` and friends are shown as text only.
    """
    url = (url or "").strip()
    if not url or len(url) > URL_LIMIT or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return html.escape(url, quote=True)
