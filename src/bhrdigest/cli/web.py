"""`bhrdigest web`, `subscribers` and `unsubscribe`: click commands taking the CLI's App.

Assembled into the command line by cli/main.py.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import click

from bhrdigest.cli.app import App, pass_app
from bhrdigest.errors import ConfigError

if TYPE_CHECKING:
    from bhrdigest.store.subscribers import SubscriberView


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, envvar="PORT",
              help="Port to listen on [env PORT, set by the platform].")
@click.option("--forwarded-allow-ips", envvar="FORWARDED_ALLOW_IPS", metavar="IPS",
              help="Proxies whose X-Forwarded-For is trusted, comma-separated, or '*' behind a platform "
                   "router [env FORWARDED_ALLOW_IPS; default 127.0.0.1].")
@pass_app
def web(app: App, host: str, port: int, forwarded_allow_ips: str | None) -> None:
    """Serve one-click unsubscribe and the preferences page.

    The Procfile's `web:` process. POST /u/TOKEN unsubscribes at once (RFC 8058); GET /u/TOKEN shows a page with one
    button; /p/TOKEN is the preferences page; /healthz answers the platform.
    Needs BHRDIGEST_SECRET, the same one `send` signs the links with.

    Example: PORT=8000 BHRDIGEST_SECRET=… bhrdigest web
    """
    if not app.settings.secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is not set: the web pages check the unsubscribe and preferences "
            "links with it. Set it to the same long random string `send` uses."
        )
    from bhrdigest.web.app import create_app
    from bhrdigest.web.server import build_server, serve_until_stopped

    asgi = create_app(app.config, app.engine, app.settings.secret)
    click.echo(f"web: listening on {host}:{port}; stop with Ctrl-C or SIGTERM", err=True)
    serve_until_stopped(build_server(asgi, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_app
def subscribers(app: App, as_json: bool) -> None:
    """Every subscriber as `send` sees them.

    Merges subscriptions.yaml, each subscriber's own changes on the preferences page,
    pauses and unsubscriptions (also of addresses no longer in the YAML).

    Example: bhrdigest subscribers --json
    """
    from bhrdigest.store.subscribers import subscriber_views

    views = subscriber_views(app.engine, app.config.subscribers, app.config.catalogue)
    if as_json:
        for view in views:
            click.echo(json.dumps(view.to_json(), ensure_ascii=False))
        return
    for view in views:
        click.echo(f"{view.email:<40} {view.status:<13}{_details(view)}")
    counts = Counter(view.status for view in views)
    unlisted = sum(1 for view in views if not view.in_yaml)
    click.echo(
        f"{len(views)} addresses: {counts['active']} active, {counts['paused']} paused, "
        f"{counts['unsubscribed']} unsubscribed" + (f" ({unlisted} not in subscriptions.yaml)" if unlisted else "")
    )


def _details(view: SubscriberView) -> str:
    if view.suppression is not None:
        s = view.suppression
        where = "" if view.in_yaml else "; not in subscriptions.yaml"
        return f"since {s.created_at:%Y-%m-%d} ({s.reason}){where}"
    subscriber = view.subscriber
    assert subscriber is not None  # only an unsubscribed address can be missing from the YAML
    facets = [("companies", subscriber.companies), ("places", subscriber.places), ("topics", subscriber.topics),
              ("languages", subscriber.languages)]
    text = "; ".join(f"{name}: {', '.join(values)}" for name, values in facets if values)
    if view.changed_on_web:
        text += f"  [changed on the web: {', '.join(view.changed_on_web)}]"
    return text


@click.command()
@click.argument("email")
@click.option("--undo", is_flag=True, help="Lift the unsubscription: the person asked to get digests again.")
@pass_app
def unsubscribe(app: App, email: str, undo: bool) -> None:
    """Stop digests to EMAIL for good (a request by mail or phone).

    `send` skips the address from now on, even while it is still in subscriptions.yaml.

    Example: bhrdigest unsubscribe alex@example.org
    """
    from bhrdigest.config.load import address_problem
    from bhrdigest.store.subscribers import suppress, unsuppress

    address = email.strip().lower()
    if reason := address_problem(address):
        raise ConfigError(f"{email!r} {reason}")
    listed = any(s.email.lower() == address for s in app.config.subscribers)
    if undo:
        lifted = unsuppress(app.engine, address)
        click.echo(f"{address}: unsubscription lifted" if lifted else f"{address} was not unsubscribed")
        if lifted and not listed:
            click.echo(f"note: {address} is not in {app.config.path}: add it there for it to get digests")
        return
    suppression, created = suppress(app.engine, address, "staff", now=app.now())
    if created:
        click.echo(f"{address}: unsubscribed; no digest will be sent to it")
    else:
        click.echo(f"{address} was already unsubscribed on {suppression.created_at:%Y-%m-%d} ({suppression.reason})")
    if listed:
        click.echo(f"note: {address} is still in {app.config.path}; remove it there when convenient")
