"""A digest's subject line: the same every week told a reader nothing.

    subject_line(base, day=…, lead_title=…, others=…)
        "Business & human rights: your weekly update · 3 December 2026: NSO Group response, and 11 more"

Every English word of the subject is in this module, for localisation to wrap in one place.
"""

from __future__ import annotations

from datetime import date

from bhrdigest.digest.render import format_date

# Mail clients show 40-130 characters of a subject; past this the headline is cut, not the count.
MAX_SUBJECT_CHARS = 150


def subject_line(base: str, *, day: date, lead_title: str | None, others: int) -> str:
    """`base` (subscriptions.yaml's digest.subject), the date, and the lead headline with
    how many more items follow, or how many items there are when there is no lead."""
    head = f"{base} · {format_date(day)}: "
    if not lead_title:
        return head + _items(others)
    tail = f", and {others} more" if others else ""
    room = MAX_SUBJECT_CHARS - len(head) - len(tail)
    title = " ".join(lead_title.split())
    if len(title) > room:
        title = title[: max(room - 1, 10)].rstrip(" ,;:") + "…"
    return head + title + tail


def _items(count: int) -> str:
    return "1 new item" if count == 1 else f"{count} new items"
