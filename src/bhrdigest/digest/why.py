"""Why an item is in a reader's digest, told as a reader can check it.

    reason_views(match) -> tuple[ReasonView, ...]   what the "Why:" line of an item shows

A place reason names the place the item itself names and where it does ("India (in
the text) → Asia & Pacific"): a reader following a region otherwise cannot tell what
in the item matched. A company the item only mentions says so and shows the site's
`[Also referred to …]` line, which the excerpt no longer carries. The words around
these values are the templates' (so they can be translated there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bhrdigest.digest.match import COMPANY, MENTION, PLACE, Match, Reason
from bhrdigest.model import Component


@dataclass(frozen=True, slots=True)
class ReasonView:
    facet: str  # "company" | "place" | "topic": a mention is a company reason
    name: str  # what the reader follows
    mentioned: bool = False  # the item only mentions the company; `line` shows where
    line: str = ""  # the `[Also referred to …]` line, for a mention
    named: str = ""  # a place reason: the place the item names that stands for `name`
    where: str = ""  # a place reason: "title" (its place prefix), "text", "tag" (feed category); "" unknown


def reason_views(match: Match) -> tuple[ReasonView, ...]:
    views = [_view(reason, match.component) for reason in match.reasons]
    # The marker line once per item, however many of its companies the reader follows.
    first = next((i for i, view in enumerate(views) if view.mentioned), None)
    if first is not None:
        views[first] = replace(views[first], line=match.component.mention_line)
    return tuple(views)


def _view(reason: Reason, component: Component) -> ReasonView:
    if reason.facet == MENTION:
        return ReasonView(COMPANY, reason.name, mentioned=True)
    if reason.facet == PLACE:
        origin = next((o for o in component.place_origins if o.place == reason.name), None)
        if origin is not None:
            return ReasonView(PLACE, reason.name, named=origin.named, where=origin.where)
    return ReasonView(reason.facet, reason.name)
