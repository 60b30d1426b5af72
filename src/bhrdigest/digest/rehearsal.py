"""Rehearsals of a digest run, which record nothing: the dry run and test sends.

    chosen_subscribers  the subscribers `send --only` names, as a digest would be made for
                        them; or one error naming each address that gets none, and why
                        ("alex@example.org unsubscribed on 2026-11-30 (one-click)")
    render_previews     `send --dry-run`: every digest to files, with a size report
    send_tests          `send --only EMAIL [--to ADDRESS]`: each named subscriber's digest
                        mailed as a test ("[TEST] " before the subject), to ADDRESS or to
                        the subscriber; no ledger row, so the real run still sends it
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.digest.build import PlannedDigest
from bhrdigest.digest.compose import DigestComposer
from bhrdigest.digest.run import Sender
from bhrdigest.errors import ConfigError
from bhrdigest.mail.outbox import file_stem, write_atomically
from bhrdigest.mail.sending import SendResult
from bhrdigest.model import Subscriber
from bhrdigest.store.subscribers import SubscriberView, subscriber_views

# How an address came to get no more digests, as the store records it (store.subscribers.REASONS).
_HOW = {"one-click": "one-click", "web": "on the preferences page", "staff": "by staff",
        "hard-bounce": "its mailbox bounced for good", "complaint": "a digest was reported as spam",
        "soft-bounces": "too many soft bounces"}  # fmt: skip
_UNSUBSCRIBED = ("one-click", "web", "staff")  # the person's own choice; the others: suppressed for them


def chosen_subscribers(engine: sa.Engine, config: Config, emails: Iterable[str]) -> list[Subscriber]:
    """The named subscribers, with their web choices applied, in the order given.

    Raises ConfigError naming every address that gets no digest: not in the
    configuration, unsubscribed (when and how) or paused (since when).
    """
    views = {view.email: view for view in subscriber_views(engine, config.subscribers, config.catalogue)}
    chosen, problems = [], []
    for email in dict.fromkeys(e.strip().lower() for e in emails):
        view = views.get(email)
        if view is not None and view.status == "active" and view.subscriber is not None:
            chosen.append(view.subscriber)
        else:
            problems.append(why_no_digest(email, view, config.path))
    if problems:
        raise ConfigError("; ".join(problems))
    return chosen


def why_no_digest(email: str, view: SubscriberView | None, config_path: Path) -> str:
    if view is None:
        return f"{email} is not a subscriber in {config_path}"
    if view.suppression is not None:
        reason, when = view.suppression.reason, view.suppression.created_at
        verb = "unsubscribed" if reason in _UNSUBSCRIBED else "was suppressed"
        listed = "" if view.in_yaml else f"; it is not in {config_path} either"
        return f"{email} {verb} on {when:%Y-%m-%d} ({_HOW.get(reason, reason)}): no digest is made for them{listed}"
    since = f" on {view.preferences_updated_at:%Y-%m-%d}" if view.preferences_updated_at else ""
    return f"{email} paused their digest{since} (on the preferences page): no digest is made for them"


def render_previews(composer: DigestComposer, digests: Sequence[PlannedDigest], folder: Path, *,
                    test: bool = False, to: str | None = None) -> list[tuple[str, Path, int, int]]:  # fmt: skip
    """Every digest to folder/<address>.html and .eml; (email, .eml path, items, size) each.

    `test`: each as its test send would be (`send --only`), to `to` or to its subscriber.
    """
    folder.mkdir(parents=True, exist_ok=True)
    report = []
    composer.prepare([*(planned.subscriber.email for planned in digests), *([to] if test and to else [])])
    for planned in digests:
        test_to = (to or planned.subscriber.email) if test else None
        rendered, message = composer.compose(planned, run_id=0, test_to=test_to)
        data = message.as_bytes()
        stem = file_stem(planned.subscriber.email)
        write_atomically(folder / f"{stem}.html", rendered.html.encode())
        write_atomically(folder / f"{stem}.eml", data)
        report.append((planned.subscriber.email, folder / f"{stem}.eml", rendered.item_count, len(data)))
    return report


@dataclass(frozen=True, slots=True)
class Trial:
    subscriber: str  # whose digest
    to: str  # who received it
    result: SendResult


async def send_tests(composer: DigestComposer, sender: Sender, digests: Sequence[PlannedDigest], *,
                     to: str | None = None) -> list[Trial]:  # fmt: skip
    """Each digest as a test, to `to` (default: its own subscriber), one after the other."""
    sent = []
    for planned in digests:
        address = to or planned.subscriber.email
        _, message = composer.compose(planned, run_id=0, test_to=address)
        sent.append(Trial(planned.subscriber.email, address, await sender.send(message)))
    return sent
