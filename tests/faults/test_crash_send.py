"""`bhrdigest send` killed with SIGKILL at seeded random moments, interrupted with
Ctrl-C and SIGTERM — the real CLI in a child process against a loopback SMTP sink.

What must hold, counted per address at the sink:
- nothing is lost: after the re-run and `--resend-unknown` every subscriber has a digest;
- before `--resend-unknown`, nobody ever has two;
- the only duplicates are messages in flight at a kill (at most one per SMTP
  connection), each sent again with the same Message-ID, and only after the re-run
  reported them as "of unknown fate" and staff asked for them with `--resend-unknown`.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass

import pytest
from faultkit import (
    SAMPLE,
    SECRET,
    SEED,
    Bhr,
    assert_no_traceback,
    finish,
    kill9,
    resending_reported,
    scaled,
    send_summary,
    subscribers_yaml,
    unknown_reported,
    wait_for,
    write_config,
)
from sink import Sink

CONNECTIONS = 4  # the CLI's default --connections: the most messages ever in flight
MOMENTS = ("before_reply", "after_reply", "clock")


@dataclass(frozen=True)
class Trial:
    number: int
    moment: str  # before_reply: inside DATA, before "250"; after_reply: just after; clock: a random time
    arrived: int  # messages at the sink during this run


def sending_env(sink: Sink) -> dict[str, str]:
    # SEND_LEASE: a killed sender's batch is taken over after 1 s instead of 60 s, so that
    # twenty kills in a row take seconds; the takeover itself is what is under test.
    return {"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET, "SEND_LEASE": "1"}


def prepare(tmp_path, count: int, database_url: str | None = None) -> Bhr:
    config = write_config(tmp_path, feeds=[SAMPLE], subscribers=subscribers_yaml(count))
    bhr = Bhr(tmp_path, config=config, database_url=database_url)
    fetched = bhr.run("-q", "fetch")
    assert fetched.returncode == 0, fetched.describe()
    return bhr


def kill_at_random_moments(bhr: Bhr, sink: Sink, rng: random.Random, *, count: int, trials: int) -> list[Trial]:
    """One `send` after another, each SIGKILLed at a moment drawn from `rng`."""
    done: list[Trial] = []
    for number in range(trials):
        # What the next send can still send: not sent, not gone, and not of unknown fate (nor
        # pending: a killed sender's pending rows become unknown when its batch is taken over).
        settled = bhr.deliveries()
        remaining = count - sum(settled.get(status, 0) for status in ("sent", "gone", "unknown", "pending"))
        # Each trial sends at most its budget, plus what is in flight at the kill (at most
        # 2 * CONNECTIONS): a share of what is left after keeping that much for every trial
        # to come, so that even the last trial has something left to be killed in.
        left = trials - number
        budget = max(1, (remaining - 2 * CONNECTIONS * left) // (left + 1))
        moment = rng.choice(MOMENTS)
        sink.begin(f"kill {number}")
        child = bhr.start("-q", "send", "--yes", env=sending_env(sink))
        if moment == "clock":
            # Start-up, planning or sending: wherever it falls. A fast run can use up its
            # budget before the clock runs out, so it is also killed after its budget.
            sink.arm(after=budget, action=lambda child=child: kill9(child), when="after_reply")
            time.sleep(rng.uniform(0.1, 2.5))
            kill9(child)
        else:
            sink.arm(after=rng.randint(1, budget), action=lambda child=child: kill9(child), when=moment,
                     delay=rng.uniform(0, 0.005))
        ran = finish(child, timeout=120)
        sink.disarm()
        assert ran.returncode == -signal.SIGKILL, f"trial {number} (seed {SEED}) was not killed:\n{ran.describe()}"
        done.append(Trial(number, moment, sink.count(f"kill {number}")))
    return done


def check_nothing_lost_and_duplicates_only_in_flight(bhr: Bhr, sink: Sink, trials: list[Trial], count: int) -> dict:
    env = sending_env(sink)
    unacknowledged = {  # recorded by the sink while the sender was being killed: certainly in flight
        [d for d in sink.deliveries if d.phase == f"kill {t.number}"][-1].rcpt
        for t in trials if t.moment == "before_reply" and t.arrived
    }
    sink.begin("re-run")
    rerun = bhr.run("-q", "send", "--yes", env=env)
    assert_no_traceback(rerun)
    unknown = unknown_reported(rerun.output)
    summary = send_summary(rerun.stdout)
    assert summary["state"] == "finished" and summary["unknown"] == unknown, rerun.describe()
    assert rerun.returncode == (3 if unknown else 0), rerun.describe()
    assert unknown and "--resend-unknown" in rerun.output, rerun.describe()
    assert unknown <= CONNECTIONS * len(trials), f"more of unknown fate than could be in flight:\n{rerun.describe()}"
    received = sink.by_address()
    assert max(len(copies) for copies in received.values()) == 1, "a second digest before --resend-unknown"
    assert count - len(received) <= unknown, "lost: missing digests that were never reported"

    sink.begin("resend")
    resend = bhr.run("-q", "send", "--yes", "--resend-unknown", env=env)
    assert resend.returncode == 0, resend.describe()
    assert resending_reported(resend.stdout + resend.stderr) == unknown, resend.describe()
    assert sink.count("resend") == unknown

    received = sink.by_address()
    assert set(received) == {f"sub{i:05d}@example.org" for i in range(count)}, "lost digests"
    twice = {address: copies for address, copies in received.items() if len(copies) > 1}
    for address, copies in twice.items():
        assert len(copies) == 2 and copies[1].phase == "resend", (address, copies)
        assert copies[0].message_id == copies[1].message_id, f"{address}: a duplicate must keep its Message-ID"
    assert unacknowledged <= set(twice), "a message accepted but never acknowledged was not re-sent"
    assert len(twice) <= unknown
    deliveries = bhr.deliveries()
    assert deliveries["sent"] == count, deliveries
    assert not any(n for status, n in deliveries.items() if status not in ("sent", "gone")), deliveries
    return {"unknown": unknown, "duplicates": len(twice), "lost": 0}


def test_send_killed_at_random_moments_loses_nothing_and_duplicates_only_what_was_in_flight(
        store_url, request, tmp_path):
    engine_kind = store_url.split(":")[0]
    if engine_kind == "sqlite":
        count, trials = scaled(2000, 5000), scaled(20, 100)
    else:
        count, trials = scaled(400, 2000), scaled(6, 30)
    rng = random.Random(f"{SEED}-{engine_kind}")
    bhr = prepare(tmp_path, count, store_url)
    with Sink() as sink:
        done = kill_at_random_moments(bhr, sink, rng, count=count, trials=trials)
        outcome = check_nothing_lost_and_duplicates_only_in_flight(bhr, sink, done, count)
    moments = {m: sum(t.moment == m for t in done) for m in MOMENTS}
    request.node.user_properties.append(("trials", len(done)))
    request.node.user_properties.append(("outcome", outcome | {"moments": moments}))
    print(f"{engine_kind}: {len(done)} kills {moments}; {outcome}")


def start_big_send(tmp_path, sink: Sink, count: int) -> tuple[Bhr, object]:
    bhr = prepare(tmp_path, count)
    sink.begin("interrupted")
    child = bhr.start("-q", "send", "--yes", env=sending_env(sink))
    wait_for(lambda: sink.count("interrupted") >= 50 or child.poll() is not None, 60, "first 50 digests")
    return bhr, child


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_send_stops_at_once_with_a_summary_and_a_rerun_completes_it_exactly_once(sig, tmp_path):
    count = 600
    with Sink() as sink:
        bhr, child = start_big_send(tmp_path, sink, count)
        child.send_signal(sig)
        at_signal = sink.count("interrupted")
        stopped = finish(child, timeout=30)
        after_signal = sink.count("interrupted") - at_signal
        left = bhr.deliveries()
        sink.begin("re-run")
        rerun = bhr.run("-q", "send", "--yes", env=sending_env(sink))
        received = sink.by_address()
    assert_no_traceback(stopped)
    # Only what was in flight may still arrive (one per connection, and one more each may be
    # pulled before the signal handler runs): an interrupted send must not go on sending.
    assert after_signal <= 2 * CONNECTIONS, f"{after_signal} digests went out after {sig.name}"
    assert stopped.returncode == 3, stopped.describe()  # partly done
    summary = send_summary(stopped.stdout)
    assert summary["state"] == "unfinished" and summary["sent"] == sink.count("interrupted"), stopped.describe()
    assert left["pending"] == 0 and not left.get("unknown"), left  # what was in flight was finished and recorded
    assert rerun.returncode == 0 and not unknown_reported(rerun.output), rerun.describe()
    assert len(received) == count and {len(copies) for copies in received.values()} == {1}
