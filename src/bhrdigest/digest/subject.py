"""A digest's subject line: the same every week told a reader nothing.

    subject_line(base, day=…, lead_title=…, others=…, chrome=…)
        "Business & human rights: your weekly update · 3 December 2026: NSO Group response, and 11 more"

In the reader's language (bhrdigest.i18n): `base` is translated when a catalogue has it
(the default subject is in every catalogue; a subject staff write goes out as written),
the date in the language's conventions, the words around the headline from the catalogue.
"""

from __future__ import annotations

from datetime import date

from bhrdigest.i18n import Chrome, chrome_for

# Mail clients show 40-130 characters of a subject; past this the headline is cut, not the count.
MAX_SUBJECT_CHARS = 150


def subject_line(base: str, *, day: date, lead_title: str | None, others: int, chrome: Chrome | None = None) -> str:
    """`base` (subscriptions.yaml's digest.subject), the date, and the lead headline with
    how many more items follow, or how many items there are when there is no lead."""
    chrome = chrome or chrome_for(())
    words = {"subject": chrome.gettext(base), "date": chrome.format_date(day)}
    if not lead_title:
        return chrome.ngettext("%(subject)s · %(date)s: %(num)s new item", "%(subject)s · %(date)s: %(num)s new items",
                               others, **words)
    tail = chrome.ngettext(", and %(num)s more", ", and %(num)s more", others) if others else ""
    room = MAX_SUBJECT_CHARS - len(chrome.gettext("%(subject)s · %(date)s: %(title)s", title="", **words)) - len(tail)
    title = " ".join(lead_title.split())
    if len(title) > room:
        title = title[: max(room - 1, 10)].rstrip(" ,;:") + "…"
    return chrome.gettext("%(subject)s · %(date)s: %(title)s", title=title, **words) + tail
