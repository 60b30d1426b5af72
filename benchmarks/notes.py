"""The prose of docs/benchmarks.md: how each figure is made, and why a target is missed.

Kept apart from the measuring code; `notes_for(rows)` includes an explanation of a
missed target only when that row did miss it in this run.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.report import Row

METHOD = """\
- **Data** (`benchmarks/data.py`, seeded): 20,000 companies with 25,000 aliases, Zipf popularity;
  100,000 subscribers (region watchers, country desks, issue specialists, company watchers);
  a week of 2,000 components as RSS in the site's shape, a tenth of them in two feeds. A
  subscriber who follows a region or an issue matches hundreds of a week's components (about
  450 on average among those matched); a digest shows 40.
- **Ingest**: `parse_feed` + `Tagger.tag` for every item of 100 feeds, against `feedparser.parse`
  (default options) on the same bytes; alternately, best of 3.
- **Tagging**: `Tagger.tag` over the week's entries. The baseline, `alias in text` for each of the
  45,000 names and aliases, is timed on 50 components.
- **Matching**: `Matcher(subscribers).match(components)`, then for every subscriber
  `Matches.for_digest` (the matches a digest can show, and their count). The nested loop applies
  the same rules to every (subscriber, component) pair, with reasons and order; it is timed on
  500 subscribers and scaled.
- **Rendering**: `build_digest` + `DigestRenderer.render` per digest (HTML and text parts, the
  90 KB cap kept) on 1,000 real digests, alternately with Jinja rendering the same inlined HTML
  template from a ready view; premailer (render the raw template, inline, render the text part)
  is measured on 60 of them, alternately with ours on the same 60.
- **Sending**: `SmtpSender` + `send_many` (the product's pool) against a bare aiosmtplib loop,
  the same built messages, each flattened as it is sent, to the same sink process. The bare loop
  runs aiosmtplib as shipped; the row's note also gives it with the quick checks bhrdigest puts in
  front of aiosmtplib's regular expressions, which leaves the pool's own cost.
- **Subscribers**: the subscribers as a CSV in our columns, imported into a SQLite file as
  `subscribers import --yes` does (read, every name checked against the catalogue, plan, batched
  insert), then again (nothing to change); and what `send` pays before planning,
  `load_config` + `effective_config`, with the subscribers in subscriptions.yaml against the
  same subscribers in the database (a YAML of the catalogue only), best of 3.
- **Telegram**: `telegram.deliver.run_alerts` (what `bhrdigest alert` runs) with the product's default
  `Pacing`, in real time, against the test suite's fake Bot API in another process, which refuses
  with 429 exactly as Telegram's documented limits say (30 messages in any second overall, one
  a second per chat). Real time rather than a scaled clock: a scaled pacing would measure the
  fake server's speed, and 10,000 alerts to 1,000 chats are about 2,000 messages (a chat's burst
  shares messages), 80 s at the cap. The rate is messages accepted over the span from the first
  to the last; the busiest second is the most messages the fake API accepted in any second.
- **Store**: one weekly run written through the ledger as `send` writes it (enqueue, claim_batch,
  claim, mark with 26 items each, finish), measured before and after: every table's pages on SQLite
  (`dbstat`), `pg_total_relation_size` on PostgreSQL, whose figure includes the row versions each
  update leaves until VACUUM (autovacuum is off on the benchmark's server; on a managed PostgreSQL it
  reclaims them during the run). The baseline is the same week in schema 6's tables (a row per
  delivered item keyed by address and key), written and updated as its ledger did. The year: 51 more
  weeks copied by SQL, each followed by `db prune` (and VACUUM on PostgreSQL).
- **End to end**: the real command line in its own processes, `bhrdigest fetch` (the week's 20
  feeds from files) then `bhrdigest send --yes --workers N`, N the machine's cores (2 here), with
  `SMTP_URL` pointing at the sink process: the parent plans and queues the run, N senders claim
  batches of it (each process keeps one core busy rendering). Peak memory is the most the
  processes held at once, their VmRSS summed every 0.1 s (the sum of each one's own VmHWM, which
  do not coincide, is in the row's note; ru_maxrss would count the benchmark's own pages shared
  between fork and exec); store growth is the SQLite file and its WAL. The largest
  run is stopped after `--e2e-timeout` seconds (480) so that a full run stays under 20 minutes; a
  stopped run reports what it sent by then and its rate.
- **Sink**: `smtp-fast` (asyncio, reads DATA in bulk, 0.3 ms of CPU a digest). aiosmtpd reads
  DATA line by line: 2.5 ms of CPU a 75 KB digest, about 400 digests/s at best, so with it the
  end-to-end figure would be aiosmtpd's (`--sink smtp` runs everything against it)."""

OPTIMISED = """\
Found with pyinstrument on these benchmarks, fixed in the modules named; bytes and digests
are unchanged (golden files, and an equivalence check on 37,640 random digests for matching):

| where | what it cost | change | after |
|---|---|---|---|
| digest/render.py, text part | `wordwrap` (textwrap) was half of a render: 9 of 18 ms a digest | Jinja's `wordwrap` and `indent` remembered per renderer: the same titles and excerpts recur in thousands of digests | render 17 → 9 ms |
| digest/render.py, size cap | digests over 90 KB rendered 3 to 5 times (full, empty, estimate, lower…) | a size model learned from the renderer's own renders predicts how many items fit; every count is still rendered and measured; an exact size is needed only near the cap (a C upper bound otherwise) | 1.3 → 1.0 render a digest; 9 → 1.7 ms |
| digest/message.py | base64 of every part only to compare lengths; each part encoded twice | base64's length computed; the encoding remembered for the message | size check 2 → 0.05 ms |
| digest/message.py | `as_bytes` wrote bodies line by line (1,000 lines a digest), searched the bodies for a free MIME boundary and compiled a regex each time; headers parsed for every message | bodies written in one piece (same bytes), one fixed boundary that QP and base64 cannot contain, headers shared by a run parsed once | message 4.1 + 2.3 ms → 1.5 ms |
| digest/match.py | `Matches[email]` builds every match (~450) of a subscriber, though a digest shows 40 | `Matches.for_digest(email, max_items, exclude=…)`: the possible leads and each section's head picked with bit operations, only those built; `build_digest(…, total=)` counts the rest | 0.74 ms → 0.07 ms a subscriber |
| digest/match.py | building ~35 Match values and their reasons per subscriber: 11 of 12.5 s for 100,000 | a Match built once per (component, reasons) pair (~21,000 in 3.3 million matches); a profile's selection kept until every subscriber sharing it has had it; tied dates at the cut-off taken in one bit operation | 100,000 × 2,000: 12.5 s → 2.5 s |
| digest/templating.py, both templates | Jinja re-ran every item's macros for every digest: the same ~2,000 items in 100,000 digests | `RenderingEnvironment` remembers what a pure macro (reads only its parameters, decided from the template's AST) returned for the same item; the item rows are such macros; an item's view built once per shared Match and languages | render 2.0 → 0.9 ms a digest |
| store/sql.py | `insert_ignore` compiled a new multi-VALUES INSERT for every call: 15% of a send (35 rows marked per digest) | one cached statement per table, executed with many rows | 9× faster on SQLite, 2× on PostgreSQL |
| digest/render.py, size cap | an upper bound of the size (a pass over both parts), then the message encoded them anyway | the parts encoded once, at sizing; the message takes the same encodings | one pass less a digest |
| digest/senders.py | each sender parsed subscriptions.yaml again: ~20 s at 100,000 subscribers | the parent's parsed configuration handed to its senders (a pickle in a private temporary directory) | senders start in ~1 s |
| worker.py, telegram/pacing.py | alerts at 83% of the cap: each pass of 1,000 alerts idled ~0.9 s at its end while its last chats waited out their second; one message at a time, so every slow round trip pushed the schedule back | the pass topped up from the store in a thread while it sends; as many messages in flight as the round trip needs (≤ 8), each at its own paced slot | 24.8 → 28.0 messages/s, 0 × 429 |
| telegram/client.py | 429s from our own pacing: exactly 1.0 s between two messages to a chat is under a second once a message is delayed by a few ms | `Pacing()`: 1.1 s per chat, 28/s overall (even spacing) | 69 → 0 × 429 |
| digest/message.py | quoted-printable of both parts (`binascii.b2a_qp`, ~7 ns a byte) was 40% of a render, and `bytes.replace` of CR LF, with none to replace, 46 µs a part | QP encodes each line on its own, so each distinct line is encoded once and remembered (a run's digests share most lines); the replace only when there is a CR | render 1.03 → 0.70 ms a digest |
| mail/smtp.py, digest/message.py | aiosmtplib's regular expressions over every 75 KB message, ~0.3 ms each: line endings for SIZE, again for DATA, and dot-stuffing, which 92% of digests needed (soft breaks put a "." first on some line) | no QP line starts with "." (written =2E, the line re-wrapped); a C-speed check, once a message, that nothing needs changing, else the same rewrite as the expressions | 10,000 digests: sending 24.3 → 20.4 s; 100,000 subscribers 261 → 216 s |
| config/load.py | `send` held 630 MB of the 100,000 subscribers' configuration while its senders ran (the values built while walking a million YAML nodes kept the nodes' freed memory in use): 1,522 MB at once, 99% of the target | `load_config` hands back a copy made once the node tree is gone (a pickle round trip, ~1 s) | 627 → 160 MB for that configuration |"""

NOT_MET = {
    "matching": """\
**Matching, 10 s.** The time moves with the machine's load (other jobs share the two cores): this
session measured 2.4–2.8 s when the machine was otherwise idle. Indexing and matching (bit sets) are
under 1 s; the rest is choosing, for each of the ~94,000 matched subscribers, the matches a digest
shows (a profile's choice is shared by the subscribers who have it).""",
    "sending, 4": """\
**Sending, 4 connections.** Both loops share two cores with the sink process and the machine's
other jobs; with 4 sessions the figure moves most between runs. The product's own cost over
aiosmtplib is the pool, the envelope read from the headers and the result bookkeeping; the row's
note gives the bare loop with the same quick checks in front of aiosmtplib's regular expressions.""",
    "rendering, per digest": """\
**Rendering per digest.** Items are rendered once a run and reused (templating.py); what is left
per digest is the view (an ItemView per item), build_digest, the header and footer of both parts,
and the encoding of both parts to size the message (shared with the message, which then needs no
encoding). The baseline renders the HTML template alone; the first pass over the sample, with
nothing remembered yet, is in the row's note. On this shared machine the ratio moves by ±0.3
between runs.""",
    "rendering vs premailer per email": """\
**Premailer per email.** premailer costs 15–30 ms a digest here, depending on the machine's load,
and the ratio moves with it. Ours is timed doing more than the baseline: it builds the digest and
its view (the baseline is given ready views) and encodes both parts as quoted-printable to keep the
message under 90 KB (the message then reuses that encoding; the premailer path is not charged for
it). What is left of ours is about half Jinja (the per-digest view, header and footer of both parts)
and half that encoding, now a dictionary look-up per line.""",
    "Telegram": """\
**Telegram.** The pacing's own ceiling is 28/s (93% of 30, a margin for ~70 ms of arrival jitter);
a run that misses 90% lost slots to the machine's load (a stalled event loop sends its next
messages late, never early: no 429). The row's note gives the longest pause between two messages.""",
    "store growth per weekly run": """\
**Store growth on PostgreSQL.** A delivery row is written four times in a run (queued,
leased by a batch, claimed, marked sent with its items), and PostgreSQL keeps each old
version until VACUUM; the row that stays is ~290 bytes (26 items' 8-byte prefixes are 208 of
them), its two index entries ~40. Autovacuum makes the old versions' space reusable during
the run and the next; with `db prune` the pruned runs' space is reused too, so the store
stops growing (the year row). Less would take fewer writes per row (leasing batches without
writing each row) or shorter prefixes (6 bytes: 52 bytes a digest less, a wrongly skipped
item about once in 250 years at 100,000 subscribers instead of never).""",
    "end to end": """\
**End to end, 5 minutes.** Both cores are busy for the whole run. Per digest, by py-spy on the
senders of 10,000 digests: rendering and sizing about a third (each distinct item rendered and
QP-encoded once a run; what is left is the per-digest view, header and footer of both parts), the
email package's headers and flattening a tenth, aiosmtplib's commands and round trips a fifth, the
ledger's claim and mark around each message (each committed: what keeps a kill -9 from leaving
more than the messages in flight of unknown fate) a tenth. Before any sender starts, the parent
parses the 16 MB subscriptions.yaml (~15 s at 100,000: libyaml builds a million nodes, which
keep their line numbers for error messages) and plans the run (~3 s). What more would take,
biggest first: subscribers in the database rather than a 16 MB YAML (the preferences page already
keeps choices there); an SMTP client that pipelines MAIL/RCPT/DATA (RFC 2920; aiosmtplib does
not); a smaller message (a third of the HTML is the inline style mail clients need on every item).""",
}


def notes_for(rows: Sequence[Row]) -> list[str]:
    out = ["### Method", "", METHOD, "", "### What was optimised", "", OPTIMISED]
    missed = [
        text
        for keys, text in NOT_MET.items()
        if any(r.met is False and r.stage.startswith(tuple(keys.split("|"))) for r in rows)
    ]
    if missed:
        out += ["", "### Targets not met: why, and what it would take", ""]
        for text in missed:
            out += [text, ""]
    return out
