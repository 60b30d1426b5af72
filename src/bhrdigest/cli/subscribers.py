"""`bhrdigest subscribers` (list), `subscribers import FILE.csv` and `subscribers export`.

Subscribers live in subscriptions.yaml (staff-managed) and in the database (imported);
store/subscribers.py merges them, roster/ reads and writes the files.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bhrdigest.cli.app import EXIT_PARTIAL, EXIT_USAGE, App, ask, pass_app
from bhrdigest.errors import ConfigError
from bhrdigest.wording import counted

if TYPE_CHECKING:
    from bhrdigest.roster.csv_import import ImportPlan, Refused
    from bhrdigest.store.subscribers import SubscriberView

SHOWN = 20  # lines listed per kind of row in the import report; the rest are counted


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_context
def subscribers(ctx: click.Context, as_json: bool) -> None:
    """Every subscriber as `send` sees them, with where each comes from.

    Merges subscriptions.yaml (source yaml), the database (source import, or web: signed up and
    confirmed), each subscriber's own changes on the preferences page, pauses and unsubscriptions
    (also of addresses listed nowhere). An address in both the YAML and the database is the
    YAML's: the line says so. A sign-up's consent evidence (when and from where it was asked
    for and confirmed, and on which form) follows its line; `consent` in JSON.
    A Telegram chat is shown: the YAML's `telegram:`, or one the subscriber linked from
    their preferences page.

    Example: bhrdigest subscribers --json
    """
    if ctx.invoked_subcommand is not None:
        if as_json:
            raise click.UsageError("--json belongs to the list: bhrdigest subscribers --json")
        return
    from bhrdigest.store.signups import latest_consents
    from bhrdigest.store.subscribers import subscriber_views
    from bhrdigest.store.telegram_links import linked_chats

    app = ctx.find_object(App)
    assert app is not None
    views = subscriber_views(app.engine, app.config.subscribers, app.config.catalogue)
    consents = latest_consents(app.engine)
    linked = linked_chats(app.engine)
    if as_json:
        for view in views:
            consent = consents.get(view.email)
            chat, how = _telegram(view, linked)
            line = {**view.to_json(), "consent": consent.to_json() if consent else None,
                    "telegram": chat, "telegram_source": how}
            click.echo(json.dumps(line, ensure_ascii=False))
        return
    for view in views:
        consent = consents.get(view.email)
        evidence = (f"  [signed up {consent.requested_at:%Y-%m-%d %H:%M} from {consent.requested_from.ip} "
                    f"({consent.form}), confirmed {consent.confirmed_at:%Y-%m-%d %H:%M} from "
                    f"{consent.confirmed_from.ip}]") if consent else ""
        chat, how = _telegram(view, linked)
        telegram = f"  [Telegram chat {chat}{', linked by the subscriber' if how == 'link' else ''}]" if chat else ""
        click.echo(f"{view.email:<40} {view.status:<13}{view.source or '-':<7} {_details(view)}{evidence}{telegram}")
    counts = Counter(view.status for view in views)
    in_yaml = sum(1 for view in views if view.in_yaml)
    nowhere = sum(1 for view in views if not view.source)
    conflicts = sum(1 for view in views if view.conflict)
    click.echo(
        f"{counted(len(views), 'address', 'addresses')}: {counts['active']} active, {counts['paused']} paused, "
        f"{counts['unsubscribed']} unsubscribed; {in_yaml} in subscriptions.yaml, "
        f"{len(views) - in_yaml - nowhere} in the database" + (f", {nowhere} listed nowhere" if nowhere else "")
        + (f"; {conflicts} in both the YAML and the database (the YAML wins)" if conflicts else "")
    )


def _telegram(view: SubscriberView, linked: dict[str, int]) -> tuple[int | None, str | None]:
    """(chat, "yaml" | "link") of the subscriber's Telegram alerts: staff's setting wins."""
    if view.subscriber is not None and view.subscriber.telegram is not None:
        return int(view.subscriber.telegram), "yaml"
    chat = linked.get(view.email)
    return (chat, "link") if chat is not None else (None, None)


def _details(view: SubscriberView) -> str:
    if view.suppression is not None:
        s = view.suppression
        where = "" if view.source else "; listed nowhere"
        return f"since {s.created_at:%Y-%m-%d} ({s.reason}){where}"
    subscriber = view.subscriber
    assert subscriber is not None  # only an unsubscribed address has none (above)
    facets = [("companies", subscriber.companies), ("places", subscriber.places), ("topics", subscriber.topics),
              ("languages", subscriber.languages)]
    text = "; ".join(f"{name}: {', '.join(values)}" for name, values in facets if values)
    if view.changed_on_web:
        text += f"  [changed on the web: {', '.join(view.changed_on_web)}]"
    if view.conflict:
        text += f"  [{view.conflict}]"
    return text


@subscribers.command("pending")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_app
def pending(app: App, as_json: bool) -> None:
    """Sign-ups waiting for their confirmation (deleted unconfirmed after 7 days).

    Example: bhrdigest subscribers pending --json
    """
    from bhrdigest.store.signups import pending_signups

    signups = pending_signups(app.engine)
    for signup in signups:
        s = signup.subscriber
        if as_json:
            click.echo(json.dumps({
                "email": s.email, "name": s.name, "languages": list(s.languages), "companies": list(s.companies),
                "places": list(s.places), "topics": list(s.topics), "form": signup.form,
                "requested_at": signup.requested_at.isoformat(), "requested_from": signup.requested_from.ip,
                "expires_at": signup.expires_at.isoformat(), "expired": signup.expires_at <= app.now(),
            }, ensure_ascii=False))  # fmt: skip
        else:
            state = "expired" if signup.expires_at <= app.now() else f"until {signup.expires_at:%Y-%m-%d %H:%M}"
            click.echo(f"{s.email:<40} asked {signup.requested_at:%Y-%m-%d %H:%M} from "
                       f"{signup.requested_from.ip} ({signup.form}); {state}")
    if not as_json:
        click.echo(f"{counted(len(signups), 'sign-up')} waiting for confirmation")


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before writing.")
@pass_app
def import_(app: App, file: Path, dry_run: bool, yes: bool) -> None:
    """Add or update subscribers in the database from a CSV file.

    Reads our columns (email, name, languages, companies, places, topics, match; lists
    separated by ; or |) or a Mailchimp audience export (Email Address, First Name, Last Name,
    Language, TAGS: tags naming a company, place or topic are followed). Reports new, updated
    and unchanged subscribers, invalid rows with their line and why, and duplicates, then asks
    before writing. Running it again with the same file changes nothing. Addresses in
    subscriptions.yaml are left to it; an unsubscribed address stays unsubscribed.

    Exits 3 when some rows were invalid (the valid ones were written).

    Example: bhrdigest subscribers import audience.csv --dry-run
    """
    from bhrdigest.config.preferences import Choices
    from bhrdigest.roster.csv_import import plan_import, read_rows
    from bhrdigest.store.roster import load_roster, write_roster
    from bhrdigest.store.subscribers import load_suppressions

    csv_file = read_rows(file)
    engine = app.engine
    plan = plan_import(
        csv_file,
        Choices(app.config.catalogue),
        existing={row.subscriber.email: row.subscriber for row in load_roster(engine)},
        in_yaml={s.email.lower() for s in app.config.subscribers},
        suppressed=set(load_suppressions(engine)),
    )
    click.echo(f"{file}: {counted(len(csv_file.rows), 'row')}")
    _report(plan)
    if dry_run:
        click.echo("dry run: nothing written")
    elif not plan.writes:
        click.echo("nothing to change: the database already has every valid row as given")
    else:
        question = f"Write {len(plan.new)} new and {len(plan.changed)} updated subscribers to the database?"
        if not yes and not ask(question, command="subscribers import FILE"):
            click.echo("not imported; nothing was changed", err=True)
            sys.exit(EXIT_USAGE)
        inserted = write_roster(engine, new=plan.new, changed=[s for s, _ in plan.changed], source="import",
                                now=app.now())
        click.echo(f"imported: {inserted} new, {len(plan.changed)} updated")
    if plan.invalid and not dry_run:
        sys.exit(EXIT_PARTIAL)


def _report(plan: ImportPlan) -> None:
    click.echo(f"  new: {len(plan.new)}")
    click.echo(f"  updated: {len(plan.changed)}")
    _lines(f"{s.email}: {', '.join(changed)}" for s, changed in plan.changed)
    click.echo(f"  unchanged: {plan.unchanged}")
    for title, refused in (("invalid", plan.invalid), ("duplicates (left out)", plan.duplicates),
                           ("in subscriptions.yaml (left to it)", plan.in_yaml),
                           ("unsubscribed or cleaned in the exported list (left out)", plan.left_out)):
        if refused:
            click.echo(f"  {title}: {len(refused)}")
            _lines(_refused(r) for r in refused)
    if plan.stay_unsubscribed:
        click.echo(f"  unsubscribed earlier, will stay unsubscribed: {len(plan.stay_unsubscribed)}")
    if plan.ignored_columns:
        click.echo(f"  columns ignored: {', '.join(plan.ignored_columns)}")
    if plan.ignored_tags:
        tags = list(plan.ignored_tags.items())
        click.echo("  tags that name no company, place or topic (ignored): "
                   + ", ".join(f"{tag} ({n} row{'s' if n > 1 else ''})" for tag, n in tags[:SHOWN])
                   + (f" and {len(tags) - SHOWN} more" if len(tags) > SHOWN else ""))


def _refused(refused: Refused) -> str:
    return f"line {refused.line}: {refused.email + ': ' if refused.email else ''}{refused.reason}"


def _lines(lines: Iterable[str]) -> None:
    shown = 0
    for shown, line in enumerate(lines, 1):
        if shown <= SHOWN:
            click.echo(f"    {line}")
    if shown > SHOWN:
        click.echo(f"    … and {shown - SHOWN} more")


@subscribers.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="CSV (importable again) or a JSON array of `subscribers --json`'s objects "
                   "[default: json for -o FILE.json, otherwise csv].")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of standard output.")
@pass_app
def export(app: App, fmt: str | None, output: Path | None) -> None:
    """Every subscriber, from the YAML and the database, with source and suppression state.

    The CSV's columns start with the ones `subscribers import` reads.

    Example: bhrdigest subscribers export -o subscribers.csv
    """
    from bhrdigest.roster.export import WRITERS
    from bhrdigest.store.subscribers import subscriber_views

    views = subscriber_views(app.engine, app.config.subscribers, app.config.catalogue)
    # `-o everyone.json` holding CSV would be a surprise found only when a script reads it
    if fmt is None:
        fmt = "json" if output is not None and output.suffix.lower() == ".json" else "csv"
    write = WRITERS[fmt]
    if output is None:
        write(views, sys.stdout)
        return
    partial = output.with_name(output.name + ".partial")  # a failed export never leaves half a file
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = write(views, out)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from exc
    click.echo(f"{output}: {counted(count, 'subscriber')}", err=True)
