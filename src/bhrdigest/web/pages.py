"""The pages: one-click unsubscribe, the preferences form, and the health check.

Unsubscribe (RFC 8058): a POST to the List-Unsubscribe URL unsubscribes at once, with
no page to click; mail providers send `List-Unsubscribe=One-Click`, and any POST with a
genuine token is taken as the subscriber's wish (scanners follow links with GET, never
POST, so refusing a POST whose body is odd would only keep someone on the list). A GET
shows a page with one button that makes that POST: a link scanner's GET changes nothing.

One-click POSTs are limited per subscriber only: mail providers send them from a few
addresses for many subscribers at once. Pages are limited per client address as well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bhrdigest.config.preferences import (
    OFFERED_LANGUAGES,
    Preferences,
    Selection,
    apply_preferences,
    split_names,
)
from bhrdigest.i18n import N_, chrome_for
from bhrdigest.model import Subscriber
from bhrdigest.signing import check_csrf, make_csrf
from bhrdigest.store import subscribers as store
from bhrdigest.web.context import WebContext, too_many
from bhrdigest.web.frame import BodyTooLarge
from bhrdigest.web.telegram_link import resync_linked_chat, telegram_offer

log = logging.getLogger(__name__)

NOTICES = {  # English; the page shows _(notice)
    "saved": N_("Your choices are saved. The next digest follows them."),
    "paused": N_("Your digest is paused. Nothing will be sent until you resume it."),
    "resumed": N_("Your digest is on again."),
    "resubscribed": N_("You are subscribed again."),
}
MAX_FIELDS = 2_000  # checkboxes of a long list of followed companies
MAX_ADD_TEXT = 5_000


def context(request: Request) -> WebContext:
    return request.app.state.web


async def healthz(request: Request) -> Response:
    """For the platform's health check: the process answers and the database too."""
    try:
        await run_in_threadpool(_ping, context(request).engine)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        return PlainTextResponse("database unavailable", status_code=503)
    return PlainTextResponse("ok")


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


# --- unsubscribe ----------------------------------------------------------------


async def unsubscribe(request: Request) -> Response:
    web = context(request)
    holder = await run_in_threadpool(web.holder, "u", request.path_params["token"])
    if holder is None:
        return web.refused(request)
    address_id, email = holder
    if request.method == "POST":
        form = await read_form(request)
        if wait := web.subscriber_limit.take(email):
            return too_many(wait)
        reason = "web" if form.get("from") == "page" else "one-click"
        await run_in_threadpool(lambda: store.suppress(web.engine, email, reason, now=web.now()))
        languages, preferences_link = await _reader(web, address_id, email)
        return web.page("unsubscribed.html.j2", reader_languages=languages, email=email,
                        preferences_link=preferences_link)
    if wait := web.limited(request, email):
        return too_many(wait)
    suppression = await run_in_threadpool(store.get_suppression, web.engine, email)
    languages, preferences_link = await _reader(web, address_id, email)
    return web.page("unsubscribe.html.j2", reader_languages=languages, email=email,
                    already=suppression is not None, preferences_link=preferences_link)


async def _reader(web: WebContext, address_id: int, email: str) -> tuple[tuple[str, ...], str | None]:
    """The languages the pages speak to `email` and its preferences link: English and none for
    an address neither the YAML nor the database lists (it has no preferences to change)."""
    subscriber = await run_in_threadpool(web.find, email)
    return (subscriber.languages, web.link("p", address_id)) if subscriber else ((), None)


async def read_form(request: Request) -> MultiDict:
    """The posted form's fields (text only: no file is accepted); a body we cannot parse reads as empty.

    A body too large is not read as empty: it is answered 413 before the page acts on it.
    So the whole body is read (the frame counts it) before any of it is parsed: the parser
    gives up early on a part too large, and would make a 10 MB body read as empty."""
    try:
        await request.body()  # kept: the parser reads it from memory
        form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_ADD_TEXT * 4)
    except BodyTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - multipart errors have no common base we can rely on
        log.info("unreadable form body: %s", type(exc).__name__)
        return MultiDict()
    return MultiDict([(name, value) for name, value in form.multi_items() if isinstance(value, str)])


# --- preferences ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    checked: bool


async def preferences(request: Request) -> Response:
    web = context(request)
    holder = await run_in_threadpool(web.holder, "p", request.path_params["token"])
    subscriber = await run_in_threadpool(web.find, holder[1]) if holder else None
    if holder is None or subscriber is None:
        return web.refused(request)
    address_id = holder[0]
    if wait := web.limited(request, subscriber.email):
        return too_many(wait)
    if request.method == "GET":
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await _show(web, address_id, subscriber, notice=notice)
    form = await read_form(request)
    subject = f"{web.list_id}\x00{subscriber.email}"
    if not _same_origin(request) or not check_csrf(web.secret, subject, form.get("csrf"), now=web.wall_clock()):
        # Relative: right under any host; an old-form link is not echoed, a current one is given.
        return web.page("expired.html.j2", status=403, reader_languages=subscriber.languages,
                        again=web.token("p", address_id))
    action = form.get("action", "save")
    if action == "save":
        return await _save(web, address_id, subscriber, form)
    if action in ("pause", "resume"):
        await run_in_threadpool(lambda: store.set_paused(web.engine, subscriber.email, action == "pause",
                                                         now=web.now()))
        return _done("paused" if action == "pause" else "resumed")
    if action == "resubscribe":
        await run_in_threadpool(store.unsuppress, web.engine, subscriber.email)
        return _done("resubscribed")
    return PlainTextResponse("Unknown action", status_code=400)


def _done(what: str) -> Response:
    # Post/redirect/get: reloading the page does not post the form again.
    return RedirectResponse(f"?done={what}", status_code=303)


def _same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (or from nowhere: "null")."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # old browsers and privacy tools: the form token alone decides
    host = request.headers.get("host", "")
    return origin != "null" and origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


async def _save(web: WebContext, address_id: int, subscriber: Subscriber, form: MultiDict) -> Response:
    choices = web.choices
    add_companies = (form.get("add_companies") or "")[:MAX_ADD_TEXT]
    add_places = (form.get("add_places") or "")[:MAX_ADD_TEXT]
    current = await run_in_threadpool(store.get_preferences, web.engine, subscriber.email)
    own_languages = (*subscriber.languages, *((current.languages or ()) if current else ()))
    selection = choices.select(
        companies=[*form.getlist("company"), *split_names(add_companies, choices.company)],
        places=[*form.getlist("place"), *split_names(add_places, choices.place)],
        topics=form.getlist("topic"),
        languages=form.getlist("language"),
        own_languages=own_languages,
        gettext=chrome_for(subscriber.languages if current is None or not current.languages
                           else current.languages).gettext,
    )
    if selection.problems:
        return await _show(web, address_id, subscriber, selection=selection, status=400,
                           typed={"companies": add_companies, "places": add_places})

    def save() -> None:
        store.save_preferences(
            web.engine,
            subscriber.email,
            companies=_unless_same(selection.companies, subscriber.companies),
            places=_unless_same(selection.places, subscriber.places),
            topics=_unless_same(selection.topics, subscriber.topics),
            languages=_unless_same(selection.languages, subscriber.languages),
            now=web.now(),
        )
        resync_linked_chat(web, subscriber.email)

    await run_in_threadpool(save)
    return _done("saved")


def _unless_same(chosen: Sequence[str], in_yaml: Sequence[str]) -> tuple[str, ...] | None:
    """None (follow the YAML) when the choice is what the YAML says, so staff edits still apply."""
    return None if set(chosen) == set(in_yaml) else tuple(chosen)


async def _show(web: WebContext, address_id: int, subscriber: Subscriber, *, notice: str | None = None,
                selection: Selection | None = None, status: int = 200,
                typed: dict[str, str] | None = None) -> Response:
    def load() -> tuple[Preferences | None, store.Suppression | None]:
        return (store.get_preferences(web.engine, subscriber.email),
                store.get_suppression(web.engine, subscriber.email))

    mine, suppression = await run_in_threadpool(load)
    following = apply_preferences(subscriber, mine, web.choices)
    telegram = await run_in_threadpool(telegram_offer, web, subscriber, chrome_for(following.languages))
    status_name = "unsubscribed" if suppression else "paused" if mine and mine.paused else "active"
    return web.page(
        "preferences.html.j2",
        status=status,
        reader_languages=following.languages,
        email=subscriber.email,
        name=subscriber.name,
        state=status_name,
        unsubscribed_on=chrome_for(following.languages).format_date(suppression.created_at) if suppression else None,
        notice=notice,
        problems=selection.problems if selection else (),
        csrf=make_csrf(web.secret, f"{web.list_id}\x00{subscriber.email}", now=web.wall_clock()),
        companies=_options(following.companies, selection.companies if selection else None),
        company_names=web.choices.company_index.names if len(web.choices.company_index) <= 2_000 else (),
        places=_options([*web.choices.regions, *following.places], selection.places if selection else None,
                        followed=following.places),
        place_names=web.choices.places,
        topics=_options([*web.choices.topics, *following.topics], selection.topics if selection else None,
                        followed=following.topics),
        languages=_language_options(subscriber, mine, following, selection),
        typed=typed or {"companies": "", "places": ""},
        match_all=subscriber.match_all,
        unsubscribe_link=web.link("u", address_id),
        telegram=telegram,
    )


def _options(names: Sequence[str], submitted: Sequence[str] | None, *,
             followed: Sequence[str] | None = None) -> list[Option]:
    """Checkboxes: every name offered, ticked as followed (or as just submitted, after an error)."""
    ticked = set(submitted if submitted is not None else (names if followed is None else followed))
    if submitted is not None:
        names = [*names, *submitted]
    return [Option(name, name, name in ticked) for name in dict.fromkeys(names)]


def _language_options(subscriber: Subscriber, mine: Preferences | None, following: Subscriber,
                      selection: Selection | None) -> list[Option]:
    codes = [*OFFERED_LANGUAGES, *subscriber.languages, *((mine.languages or ()) if mine else ())]
    ticked = set(selection.languages if selection else following.languages)
    return [Option(code, OFFERED_LANGUAGES.get(code, code), code in ticked) for code in dict.fromkeys(codes)]
