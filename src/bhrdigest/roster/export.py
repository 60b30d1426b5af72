"""Every subscriber (YAML and database) as CSV or JSON, with source and suppression state.

The CSV's first columns are the ones `subscribers import` reads, so an export edited in a
spreadsheet can be imported again; the rest (source, status, …) are ignored by the import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from typing import IO

from bhrdigest.store.subscribers import SubscriberView

CSV_COLUMNS = ("email", "name", "languages", "companies", "places", "topics", "match", "source", "status",
               "unsubscribed_at", "unsubscribe_reason", "changed_on_web", "conflict")


def write_csv(views: Iterable[SubscriberView], out: IO[str]) -> int:
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for view in views:
        record = view.to_json()
        for name in ("languages", "companies", "places", "topics", "changed_on_web"):
            record[name] = "; ".join(record[name])
        writer.writerow({name: "" if value is None else value for name, value in record.items()})
        count += 1
    return count


def write_json(views: Iterable[SubscriberView], out: IO[str]) -> int:
    """A JSON array, one subscriber a line: a valid document that also reads line by line."""
    count = 0
    out.write("[")
    for view in views:
        out.write(("," if count else "") + "\n" + json.dumps(view.to_json(), ensure_ascii=False))
        count += 1
    out.write("\n]\n")
    return count


WRITERS: dict[str, Callable[[Iterable[SubscriberView], IO[str]], int]] = {"csv": write_csv, "json": write_json}
