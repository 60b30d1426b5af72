"""`bhrdigest web` and `unsubscribe`: click commands taking the CLI's App.

Assembled into the command line by cli/main.py.
"""

from __future__ import annotations

import os

import click

from bhrdigest.cli.app import App, notice_delivery, pass_app
from bhrdigest.errors import ConfigError


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, envvar="PORT",
              help="Port to listen on [env PORT, set by the platform].")
@click.option("--trusted-proxies", type=click.IntRange(0, 10), default=1, show_default=True,
              envvar="TRUSTED_PROXY_HOPS", metavar="N",
              help="Proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto entries are "
                   "trusted: 1 behind a platform router (Heroku), 0 when clients connect directly "
                   "[env TRUSTED_PROXY_HOPS].")
@pass_app
def web(app: App, host: str, port: int, trusted_proxies: int) -> None:
    """Serve one-click unsubscribe and the preferences page.

    The Procfile's `web:` process. POST /u/TOKEN unsubscribes at once (RFC 8058); GET /u/TOKEN shows a page with one
    button; /p/TOKEN is the preferences page; /healthz answers the platform.
    Needs BHRDIGEST_SECRET, the same one `send` signs the links with.

    Bounce webhooks, each served once configured: POST /hooks/ses (SES_SNS_TOPIC_ARN: the SNS
    topics SES reports to), /hooks/postmark (POSTMARK_WEBHOOK_SECRET as the basic-auth password)
    and /hooks/mailgun (MAILGUN_WEBHOOK_SIGNING_KEY).

    Sign-up (README "Sign-up"): GET|POST /signup, the embeddable form's HTML at /signup/embed,
    confirmation links at /signup/confirm/TOKEN. Confirmation and welcome emails go out through
    SMTP_URL (else into BHRDIGEST_OUTBOX) right after the request; the worker sends any left over.

    Each client is rate-limited under the address the last N proxies report (--trusted-proxies),
    never one it wrote itself; HSTS is sent when the request came over https.

    Example: PORT=8000 BHRDIGEST_SECRET=… bhrdigest web --trusted-proxies 1
    """
    if not app.settings.secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is not set: the web pages check the unsubscribe and preferences "
            "links with it. Set it to the same long random string `send` uses."
        )
    from bhrdigest.web.app import create_app
    from bhrdigest.web.server import build_server, serve_until_stopped
    from bhrdigest.web.webhooks import WebhookKeys, Webhooks

    if os.environ.get("FORWARDED_ALLOW_IPS"):
        click.echo(f"note: FORWARDED_ALLOW_IPS is no longer read; the client address comes from the "
                   f"{trusted_proxies} trusted proxy hop(s) of TRUSTED_PROXY_HOPS. Unset it.", err=True)
    settings = app.settings
    webhooks = Webhooks(WebhookKeys(settings.ses_topic_arns, settings.postmark_webhook_secret,
                                    settings.mailgun_webhook_signing_key))
    asgi = create_app(app.config, app.engine, settings.secret, trusted_proxies=trusted_proxies, webhooks=webhooks,
                      deliver_notices=notice_delivery(app))
    if not settings.smtp_url:
        click.echo(f"web: SMTP_URL is not set: sign-up emails are written to {settings.outbox}/ instead of mailed",
                   err=True)
    if hooks := [route.path for route in webhooks.routes()]:
        click.echo(f"web: bounce webhooks at {', '.join(hooks)}", err=True)
    click.echo(f"web: listening on {host}:{port} behind {trusted_proxies} trusted proxy hop(s); "
               "stop with Ctrl-C or SIGTERM", err=True)
    serve_until_stopped(build_server(asgi, host=host, port=port))


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
    from bhrdigest.config.preferences import Choices
    from bhrdigest.config.yaml_reader import did_you_mean
    from bhrdigest.store.roster import load_roster
    from bhrdigest.store.subscribers import find_subscriber, suppress, unsuppress

    address = email.strip().lower()
    if reason := address_problem(address):
        raise ConfigError(f"{email!r} {reason}")
    in_yaml = {s.email.lower(): s for s in app.config.subscribers}
    listed = address in in_yaml
    if undo:
        lifted = unsuppress(app.engine, address)
        click.echo(f"{address}: unsubscription lifted" if lifted else f"{address} was not unsubscribed")
        if lifted and find_subscriber(app.engine, in_yaml, Choices(app.config.catalogue), address) is None:
            click.echo(f"note: {address} is neither in {app.config.path} nor imported: add it there "
                       "(or `subscribers import` it) for it to get digests")
        return
    suppression, created = suppress(app.engine, address, "staff", now=app.now())
    if created:
        click.echo(f"{address}: unsubscribed; no digest will be sent to it")
    else:
        click.echo(f"{address} was already unsubscribed on {suppression.created_at:%Y-%m-%d} ({suppression.reason})")
    if listed:
        click.echo(f"note: {address} is still in {app.config.path}; remove it there when convenient")
    elif created and find_subscriber(app.engine, in_yaml, Choices(app.config.catalogue), address) is None:
        # Most likely a typo, and then the real subscriber keeps getting digests: say so, with the near miss.
        known = [*in_yaml, *(row.subscriber.email for row in load_roster(app.engine))]
        hint = did_you_mean(address, known) or "."
        click.echo(f"note: {address} is neither in {app.config.path} nor imported{hint} "
                   "It is recorded all the same, so it stays unsubscribed should it be added later.")
