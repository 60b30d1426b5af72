"""Components and feed state in the store.

The store decides what is new — by identity (`key`), in a transaction — and
returns it, as miniflux does. A key seen before is never new again, whatever
its date; an edited title under a known key is an update; another language's
version of a known key is a translation.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bhrdigest.model import Component, FeedState, Kind, PlaceOrigin, Translation
from bhrdigest.store.schema import (
    component_feeds,
    component_tags,
    components,
    feeds,
    translations,
)
from bhrdigest.store.sql import chunked, insert_ignore, store_errors
from bhrdigest.store.types import UtcDateTime

FACETS = ("company", "mention", "country", "region", "topic")


_store_errors = store_errors("the component store")


@dataclass(frozen=True, slots=True)
class SaveResult:
    new: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    translated: tuple[str, ...] = ()
    unchanged: int = 0


@dataclass(slots=True)
class _Totals:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    translated: list[str] = field(default_factory=list)
    unchanged: int = 0


def content_hash(component: Component) -> str:
    """What, if it changes, makes a known component count as updated."""
    parts = [
        component.title,
        component.url,
        component.author or "",
        component.source_title or "",
        component.excerpt_text,
        component.kind.value,
        "|".join(component.companies),
        "|".join(component.countries),
        "|".join(component.topics),
    ]
    if component.mentions:  # only then: components without mentions keep the hash they had
        parts.append("|".join(component.mentions))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@_store_errors
def save_components(
    engine: sa.Engine,
    batch: Sequence[Component],
    *,
    feed_url: str,
    now: datetime,
    alertable: bool = True,
) -> SaveResult:
    """Store one feed's components; return which keys were new, updated or translated."""
    totals = _Totals()
    with engine.begin() as conn:
        existing = _existing(conn, [c.key for c in batch])
        for component in batch:
            _save_one(conn, component, existing.get(component.key), totals, now=now, alertable=alertable)
            existing.setdefault(component.key, (component.language, content_hash(component)))
        insert_ignore(conn, component_feeds, [{"key": c.key, "feed_url": feed_url} for c in batch])
    return SaveResult(tuple(totals.new), tuple(totals.updated), tuple(totals.translated), totals.unchanged)


def _existing(conn: sa.Connection, keys: list[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for part in chunked(sorted(set(keys))):
        query = sa.select(components.c.key, components.c.language, components.c.content_hash).where(
            components.c.key.in_(part)
        )
        found.update({key: (language, digest) for key, language, digest in conn.execute(query)})
    return found


def _save_one(
    conn: sa.Connection,
    component: Component,
    known: tuple[str, str] | None,
    totals: _Totals,
    *,
    now: datetime,
    alertable: bool,
) -> None:
    digest = content_hash(component)
    if known is None:
        row = _row(component, digest) | {"first_seen_at": now, "updated_at": now, "alertable": alertable}
        if insert_ignore(conn, components, [row]) == 0:  # a concurrent fetch stored it first
            totals.unchanged += 1
            return
        _replace_tags(conn, component)
        _save_translations(conn, component.key, component.translations)
        totals.new.append(component.key)
        return
    language, old_digest = known
    if component.language != language:
        _save_translations(conn, component.key, (_as_translation(component),) + component.translations)
        totals.translated.append(component.key)
    elif digest != old_digest:
        conn.execute(
            sa.update(components)
            .where(components.c.key == component.key)
            .values(_row(component, digest) | {"updated_at": now})
        )
        _replace_tags(conn, component)
        _save_translations(conn, component.key, component.translations)
        totals.updated.append(component.key)
    else:
        totals.unchanged += 1


def _row(component: Component, digest: str) -> dict:
    return {
        "key": component.key,
        "url": component.url,
        "guid": component.guid,
        "title": component.title,
        "language": component.language,
        "published": component.published,
        "author": component.author,
        "source_title": component.source_title,
        "source_date": component.source_date,
        "excerpt_html": component.excerpt_html,
        "excerpt_text": component.excerpt_text,
        "kind": component.kind.value,
        "content_hash": digest,
        "link": component.link or None,
        "mention_line": component.mention_line or None,
        "place_origins": [[o.place, o.named, o.where] for o in component.place_origins],
    }


def _as_translation(component: Component) -> Translation:
    return Translation(
        language=component.language,
        title=component.title,
        url=component.web_url,
        author=component.author,
        excerpt_text=component.excerpt_text,
    )


def _replace_tags(conn: sa.Connection, component: Component) -> None:
    conn.execute(sa.delete(component_tags).where(component_tags.c.key == component.key))
    rows = [
        {"key": component.key, "facet": facet, "name": name, "position": position}
        for facet, names in zip(FACETS, _facet_values(component), strict=True)
        for position, name in enumerate(dict.fromkeys(names))
    ]
    insert_ignore(conn, component_tags, rows)


def _facet_values(component: Component) -> tuple[tuple[str, ...], ...]:
    return (component.companies, component.mentions, component.countries, component.regions, component.topics)


def _save_translations(conn: sa.Connection, key: str, items: Iterable[Translation]) -> None:
    for item in items:
        values = {"title": item.title, "url": item.url, "author": item.author, "excerpt_text": item.excerpt_text}
        done = conn.execute(
            sa.update(translations)
            .where(translations.c.key == key, translations.c.language == item.language)
            .values(values)
        )
        if not done.rowcount:
            insert_ignore(conn, translations, [{"key": key, "language": item.language} | values])


@_store_errors
def load_components(
    engine: sa.Engine,
    *,
    seen_since: datetime | None = None,
    seen_before: datetime | None = None,
    keys: Sequence[str] | None = None,
) -> list[Component]:
    """Components first seen in [seen_since, seen_before), or with the given keys; oldest first."""
    query = sa.select(components).order_by(components.c.first_seen_at, components.c.key)
    if seen_since is not None:
        query = query.where(components.c.first_seen_at >= seen_since)
    if seen_before is not None:
        query = query.where(components.c.first_seen_at < seen_before)
    with engine.connect() as conn:
        if keys is not None:
            parts = chunked(list(keys))
            rows = [row for part in parts for row in conn.execute(query.where(components.c.key.in_(part)))]
        else:
            rows = list(conn.execute(query))
        wanted = [row.key for row in rows]
        tags = _load_tags(conn, wanted)
        extra = _load_translations(conn, wanted)
    return [_component(row, tags[row.key], extra[row.key]) for row in rows]


def _load_tags(conn: sa.Connection, keys: list[str]) -> dict[str, dict[str, list[str]]]:
    tags: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    query = sa.select(component_tags).order_by(component_tags.c.position)
    for part in chunked(keys):
        for row in conn.execute(query.where(component_tags.c.key.in_(part))):
            tags[row.key][row.facet].append(row.name)
    return tags


def _load_translations(conn: sa.Connection, keys: list[str]) -> dict[str, list[Translation]]:
    found: dict[str, list[Translation]] = defaultdict(list)
    query = sa.select(translations).order_by(translations.c.language)
    for part in chunked(keys):
        for row in conn.execute(query.where(translations.c.key.in_(part))):
            found[row.key].append(
                Translation(row.language, row.title, row.url, row.author, row.excerpt_text)
            )
    return found


def _component(row: sa.Row[Any], tags: dict[str, list[str]], extra: list[Translation]) -> Component:
    return Component(
        key=row.key,
        url=row.url,
        title=row.title,
        language=row.language,
        published=row.published,
        author=row.author,
        source_title=row.source_title,
        source_date=row.source_date,
        excerpt_html=row.excerpt_html,
        excerpt_text=row.excerpt_text,
        kind=Kind(row.kind),
        companies=tuple(tags["company"]),
        countries=tuple(tags["country"]),
        regions=tuple(tags["region"]),
        topics=tuple(tags["topic"]),
        translations=tuple(t for t in extra if t.language != row.language),
        guid=row.guid,
        link=row.link or "",
        mentions=tuple(tags["mention"]),
        mention_line=row.mention_line or "",
        place_origins=tuple(PlaceOrigin(*origin) for origin in row.place_origins or ()),
        first_seen=row.first_seen_at,
    )


# --- feed state -------------------------------------------------------------

@_store_errors
def load_feed_states(engine: sa.Engine, urls: Iterable[str]) -> dict[str, FeedState]:
    urls = list(urls)
    with engine.connect() as conn:
        query = sa.select(feeds)
        rows = {row.url: row for part in chunked(urls) for row in conn.execute(query.where(feeds.c.url.in_(part)))}
    return {url: _feed_state(url, rows.get(url)) for url in urls}


def _feed_state(url: str, row: sa.Row[Any] | None) -> FeedState:
    if row is None:
        return FeedState(url=url)
    return FeedState(
        url=url,
        fetch_url=row.fetch_url,
        etag=row.etag,
        last_modified=row.last_modified,
        error_count=row.error_count,
        last_error=row.last_error,
        next_check_at=row.next_check_at,
        broken_since=row.broken_since,
    )


@_store_errors
def is_new_feed(engine: sa.Engine, url: str) -> bool:
    """True until a feed's first successful fetch (its backfill) has been stored."""
    with engine.connect() as conn:
        return conn.execute(sa.select(feeds.c.first_ok_at).where(feeds.c.url == url)).scalar() is None


@_store_errors
def save_feed_state(
    engine: sa.Engine,
    state: FeedState,
    *,
    now: datetime,
    http_status: int | None,
    ok: bool,
    stored: int = 0,
) -> None:
    values: dict[str, Any] = {
        "fetch_url": state.fetch_url,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "error_count": state.error_count,
        "last_error": state.last_error,
        "next_check_at": state.next_check_at,
        "broken_since": state.broken_since,
        "last_status": http_status,
        "last_fetched_at": now,
    }
    with engine.begin() as conn:
        insert_ignore(conn, feeds, [{"url": state.url, "error_count": 0, "component_count": 0}])
        if ok:
            values["last_ok_at"] = now
            values["first_ok_at"] = sa.func.coalesce(feeds.c.first_ok_at, sa.literal(now, UtcDateTime()))
            values["component_count"] = feeds.c.component_count + stored
        conn.execute(sa.update(feeds).where(feeds.c.url == state.url).values(values))


@_store_errors
def feed_rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(feeds).order_by(feeds.c.url))]


@_store_errors
def count_components(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(components)).scalar_one()
