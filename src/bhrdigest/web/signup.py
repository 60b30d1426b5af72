"""The sign-up pages: the form, the embeddable form, and the confirmation link.

    GET  /signup                 the form (email, name, language; companies, places, topics
                                 from the catalogue, with suggestions as on the preferences page)
    POST /signup                 a request to join: the same neutral page, whatever the address
                                 (new, pending, subscribed, over its limits): what differs is
                                 only which email it is sent (signup/requests.py), after the response
    GET  /signup/embed           the HTML of a small form for the organisation's own site

With no sign-up page URL known (sender.signup_url, or preferences_url to derive it from) no
confirmation link could be mailed, so /signup and /signup/embed answer 404.
    GET  /signup/confirm/TOKEN   a page with one button (a link scanner's GET confirms nothing)
    POST /signup/confirm/TOKEN   confirms: the address becomes a subscriber, consent recorded

Our own form carries a CSRF token; the embedded form cannot (it is served by another site),
so `form=embed` posts go without: the confirmation email is what protects them, as it does
every sign-up. A honeypot field that people never see and bots fill in drops the request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from bhrdigest.config.load import address_problem
from bhrdigest.config.preferences import OFFERED_LANGUAGES, split_names
from bhrdigest.i18n import N_, catalogue_languages, chrome_for
from bhrdigest.model import Subscriber
from bhrdigest.signing import check_csrf, make_csrf, read_confirmation_token
from bhrdigest.signup.notices import signup_page_url
from bhrdigest.signup.requests import redacted, request_signup
from bhrdigest.store import signups as signup_store
from bhrdigest.store import subscribers as store
from bhrdigest.web.context import WebContext, client_address, too_many
from bhrdigest.web.pages import MAX_ADD_TEXT, Option, _same_origin, context, read_form

log = logging.getLogger(__name__)

_CSRF_SUBJECT = "signup"
_MAX_NAME = 200
_PAUSE_HINT = N_("choose at least one company, place or topic, or pause your digest instead")
_CHOOSE_ONE = N_("choose at least one company, place or topic")


def _client(request: Request) -> signup_store.Client:
    return signup_store.Client(client_address(request), request.headers.get("user-agent", ""))


def _page_language(request: Request, form: MultiDict | None = None) -> str:
    """The page's language: the form's choice, ?lang=, else the browser's first we have a catalogue for."""
    offered = catalogue_languages()
    wanted = [(form.get("language") or "") if form is not None else "", request.query_params.get("lang", "")]
    wanted += [part.split(";")[0].strip() for part in request.headers.get("accept-language", "").split(",")]
    for code in wanted:
        code = code.lower().partition("-")[0]
        if code in offered:
            return code
    return "en"


async def signup(request: Request) -> Response:
    web = context(request)
    if signup_page_url(web.config) is None:  # no link could be mailed: a sign-up could never be confirmed
        return web.refused(request)
    if request.method == "GET":
        if wait := web.client_limit.take(client_address(request)):
            return too_many(wait)
        return _form(web, _page_language(request))
    form = await read_form(request)
    language = _page_language(request, form)
    embedded = form.get("form") == "embed"
    now = web.wall_clock()
    if not embedded and (not _same_origin(request) or not check_csrf(web.secret, _CSRF_SUBJECT, form.get("csrf"),
                                                                    now=now)):  # fmt: skip
        return _form(web, language, form=form, status=403, problems=[chrome_for((language,)).gettext(
            N_("This form has expired: please send it again."))])
    email = (form.get("email") or "").strip()
    if form.get("website"):  # the honeypot: no person fills in a field they cannot see
        log.info("sign-up dropped: the honeypot field was filled in")
        return _sent(web, language, email)
    chosen, problems = _chosen(web, form, language)
    if problems:
        return _form(web, language, form=form, status=400, problems=problems)
    desk = web.signup
    if wait := desk.client_limit.take(client_address(request)):
        log.info("sign-up refused: client over its limit (%.0f s to wait)", wait)
        return _sent(web, language, email)

    def act() -> int | None:
        address = chosen.email.lower()
        subscribed = web.find(address) is not None
        suppression = store.get_suppression(web.engine, address)
        outcome = request_signup(web.engine, chosen, subscribed=subscribed,
                                 suppressed_for=suppression.reason if suppression else None,
                                 form="embed" if embedded else "page", client=_client(request), now=web.now())
        if outcome.notice_id is None:
            log.info("sign-up: nothing sent (%s) to %s", outcome.what, redacted(address))
        return outcome.notice_id

    notice_id = await run_in_threadpool(act)
    response = _sent(web, language, email)
    if notice_id is not None and desk.deliver is not None:
        response.background = BackgroundTask(desk.deliver, [notice_id])
    return response


def _chosen(web: WebContext, form: MultiDict, language: str) -> tuple[Subscriber, list[str]]:
    chrome = chrome_for((language,))
    email = (form.get("email") or "").strip()
    problems = []
    if not email:
        problems.append(chrome.gettext(N_("enter your email address")))
    elif address_problem(email):
        problems.append(chrome.gettext(N_("%(email)r is not an email address"), email=email[:254]))
    choices = web.choices
    selection = choices.select(
        companies=split_names((form.get("add_companies") or "")[:MAX_ADD_TEXT], choices.company),
        places=[*form.getlist("place"), *split_names((form.get("add_places") or "")[:MAX_ADD_TEXT], choices.place)],
        topics=form.getlist("topic"),
        languages=[form.get("language") or language],
        gettext=chrome.gettext,
    )
    pause_hint = chrome.gettext(_PAUSE_HINT)
    problems += [chrome.gettext(_CHOOSE_ONE) if p == pause_hint else p for p in selection.problems]
    name = " ".join("".join(c for c in form.get("name") or "" if c.isprintable() or c.isspace()).split())[:_MAX_NAME]
    return Subscriber(email=email, name=name, languages=selection.languages or (language,),
                      companies=selection.companies, places=selection.places, topics=selection.topics), problems


def _form(web: WebContext, language: str, *, form: MultiDict | None = None, status: int = 200,
          problems: Sequence[str] = ()) -> HTMLResponse:  # fmt: skip
    form = form or MultiDict()
    places, topics = set(form.getlist("place")), set(form.getlist("topic"))
    chosen_language = form.get("language") or language
    return web.page(
        "signup.html.j2", status=status, reader_languages=(language,),
        action="", problems=problems,
        csrf=make_csrf(web.secret, _CSRF_SUBJECT, now=web.wall_clock()),
        typed={"email": form.get("email") or "", "name": form.get("name") or "",
               "companies": form.get("add_companies") or "", "places": form.get("add_places") or ""},
        languages=[Option(code, label, code == chosen_language) for code, label in OFFERED_LANGUAGES.items()],
        company_names=web.choices.company_index.names if len(web.choices.company_index) <= 2_000 else (),
        places=[Option(name, name, name in places) for name in web.choices.regions],
        place_names=web.choices.places,
        topics=[Option(name, name, name in topics) for name in web.choices.topics],
    )  # fmt: skip


def _sent(web: WebContext, language: str, email: str) -> HTMLResponse:
    """The one page every accepted request gets, whatever became of it."""
    return web.page("signup_sent.html.j2", reader_languages=(language,), email=email[:254])


async def embed(request: Request) -> Response:
    """The embeddable form's HTML, to paste into a page of the organisation's site."""
    web = context(request)
    if signup_page_url(web.config) is None:
        return web.refused(request)
    language = _page_language(request)
    chrome = chrome_for((language,))
    html = web.templates.get_template("signup_embed.html.j2").render(
        action=signup_page_url(web.config), topics=web.choices.topics, **chrome.template_globals())
    return PlainTextResponse(html, media_type="text/plain")


async def confirm(request: Request) -> Response:
    web = context(request)
    if wait := web.client_limit.take(client_address(request)):
        return too_many(wait)
    max_age = signup_store.SIGNUP_DAYS * 86_400
    signup_id = read_confirmation_token(web.secret, request.path_params["token"], now=web.wall_clock(),
                                        max_age=max_age)
    pending = await run_in_threadpool(signup_store.get_signup, web.engine, signup_id) if signup_id else None
    if pending is None or pending.expires_at <= web.now():
        return _invalid(web, request)
    subscriber = pending.subscriber
    if request.method == "GET":
        following = [*subscriber.companies, *subscriber.places, *subscriber.topics]
        return web.page("confirm.html.j2", reader_languages=subscriber.languages, email=subscriber.email,
                        following=following)
    in_yaml = subscriber.email in web.subscribers
    done = await run_in_threadpool(lambda: signup_store.confirm_signup(
        web.engine, pending.id, in_yaml=in_yaml, client=_client(request), now=web.now()))
    if done is None:
        return _invalid(web, request)
    log.info("sign-up confirmed (%s form) for %s", pending.form, redacted(subscriber.email))
    address_id = await run_in_threadpool(web.address_id, subscriber.email)
    response = web.page("confirmed.html.j2", reader_languages=subscriber.languages,
                        preferences_link=web.link("p", address_id))
    if web.signup.deliver is not None:
        response.background = BackgroundTask(web.signup.deliver, [done[1]])
    return response


def _invalid(web: WebContext, request: Request) -> Response:
    return web.page("confirm_invalid.html.j2", status=404, reader_languages=(_page_language(request),),
                    signup_link=signup_page_url(web.config) or "../../signup")
