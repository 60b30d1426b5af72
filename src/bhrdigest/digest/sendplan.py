"""What the next `send` would do, worked out before anything is changed.

    prepare_send   which run it belongs to (the unfinished one it resumes, the finished one
                   re-opened for unknown-fate digests staff asked to re-send, or a new one),
                   who gets a digest in it, and who of those gets it again
    start_send     after staff said yes: re-open for the re-sends, open or resume the run,
                   queue its recipients; the run that `work_run` then sends

Nothing is opened when there is nothing to send: an empty run would take the place of
the real last run in `status` and move the next period's start for no reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.digest.run import Plan, plan_run, planned_period
from bhrdigest.store import ledger, runs
from bhrdigest.wording import counted


@dataclass(frozen=True, slots=True)
class SendPlan:
    plan: Plan  # its recipients: who gets a digest now (settled ones of a resumed run left out)
    resuming: ledger.DigestRun | None = None  # the unfinished run this continues, or the one re-opened
    resend: tuple[str, ...] = ()  # unknown-fate addresses to send again (`--resend-unknown`)
    unknown_left: tuple[str, ...] = ()  # unknown-fate addresses of the last run, not re-sent

    @property
    def nothing_to_do(self) -> bool:
        """Nothing to send and no unfinished run to complete: no run is opened."""
        return not self.plan.recipients and not self.resend and self.resuming is None


def prepare_send(engine: sa.Engine, config: Config, *, now: datetime, resend_unknown: bool = False,
                 keep_digests: bool = False) -> SendPlan:  # fmt: skip
    """The next `send`'s plan; reads only. `keep_digests` for a dry run (it renders them)."""
    last = ledger.last_run(engine)
    unknown = _unknown(engine, last)
    resend = unknown if resend_unknown else ()
    if last is not None and (last.finished_at is None or resend):
        resuming: ledger.DigestRun | None = last
        start, end = last.period_start, last.period_end
    else:
        resuming = None
        start, end = planned_period(engine, now=now, first_period_days=config.digest.period_days)
    # A resumed run sends nothing to whom it has an outcome for, unless staff re-send it.
    settled = runs.settled_emails(engine, resuming.id) - set(resend) if resuming is not None else set()
    plan = plan_run(engine, config.subscribers, period_start=start, period_end=end, keep_digests=keep_digests,
                    max_items=config.digest.max_items, settled=settled)
    return SendPlan(plan, resuming, resend, unknown if not resend else ())


def _unknown(engine: sa.Engine, last: ledger.DigestRun | None) -> tuple[str, ...]:
    if last is None:
        return ()
    return tuple(d.email for d in runs.deliveries_in(engine, last.id, [ledger.UNKNOWN]))


def start_send(engine: sa.Engine, config: Config, prepared: SendPlan, *, now: datetime) -> ledger.DigestRun:
    """Open (or resume, or re-open) the run and queue its recipients; returns it."""
    if prepared.resend and prepared.resuming is not None:
        ledger.retry_unknown(engine, prepared.resuming.id, prepared.resend)  # re-opens it if finished
    run = ledger.open_run(engine, now=now, first_period_days=config.digest.period_days)
    recipients = prepared.plan.recipients
    if (run.period_start, run.period_end) != (prepared.plan.period_start, prepared.plan.period_end):
        # Another `send` opened or closed a run meanwhile: queue what this one's period needs.
        recipients = plan_run(engine, config.subscribers, period_start=run.period_start,
                              period_end=run.period_end, keep_digests=False,
                              max_items=config.digest.max_items).recipients  # fmt: skip
    ledger.enqueue(engine, run.id, recipients, now=now)
    ledger.requeue_failed(engine, run.id, now=now)
    return run


def describe(prepared: SendPlan) -> str:
    """The plan line shown before the question."""
    plan = prepared.plan
    head = (f"period {plan.period_start:%Y-%m-%d %H:%M} to {plan.period_end:%Y-%m-%d %H:%M} UTC: "
            f"{counted(plan.component_count, 'new component')}; {counted(len(plan.recipients), 'digest')} to send "
            f"({counted(plan.item_count, 'item')}); "
            f"{counted(plan.already_delivered, 'subscriber')} already have theirs; "
            f"{plan.nothing_new} with nothing new")  # fmt: skip
    run = prepared.resuming
    if run is not None:
        state = "re-opening" if run.finished_at is not None else "resuming"
        head = (f"{state} digest run #{run.id} (started {run.started_at:%Y-%m-%d %H:%M} UTC; "
                f"{counted(plan.settled, 'subscriber')} already have an outcome in it): {head}")
        if run.finished_at is not None:
            head += f"; what came in after {run.period_end:%Y-%m-%d %H:%M} UTC goes out with the next `send`"
    return head
