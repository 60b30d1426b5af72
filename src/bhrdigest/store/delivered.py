"""What each subscriber was sent: the items of a sent digest, packed on its delivery row.

    pack_items      the 8-byte prefixes of a digest's component keys, in one blob (ledger.mark)
    delivered_keys  which of this period's candidates each subscriber was sent before

A component key is a SHA-256 in hex (ingest/identity.py), so its first 8 bytes are as good
as a hash: that two of a period's few thousand candidates share them has odds of about
10^-13. 26 items take 208 bytes on one row, where a row per item (address, key, run) took
about 200 bytes each. The rows go with their run when it is pruned (store/retention.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bhrdigest.store.addresses import known_ids
from bhrdigest.store.schema import deliveries
from bhrdigest.store.sql import begin, chunked, store_errors

PREFIX = 8  # bytes of a component key kept per delivered item

_store_errors = store_errors("the digest ledger")


@_store_errors
def delivered_keys(bind: Engine | Connection, emails: Iterable[str], keys: Iterable[str]) -> dict[str, set[str]]:
    """Which of `keys` (this period's candidates) each email was sent before (only emails that have some).

    A sent row keeps 8-byte prefixes of its items (pack_items): a candidate is delivered
    when its prefix is on one of the subscriber's rows still kept (see store/retention.py).
    """
    by_prefix = {_prefix(key): key for key in keys}
    found: dict[str, set[str]] = {}
    with begin(bind) as conn:
        ids = known_ids(conn, emails)
        email_of = {id_: email for email, id_ in ids.items()}
        for chunk in chunked(list(email_of)):
            query = sa.select(deliveries.c.address_id, deliveries.c.delivered).where(
                deliveries.c.address_id.in_(chunk) & deliveries.c.delivered.is_not(None)
            )
            for address_id, items in conn.execute(query):
                delivered = {by_prefix[p] for p in _prefixes(items) if p in by_prefix}
                if delivered:
                    found.setdefault(email_of[address_id], set()).update(delivered)
    return found


def pack_items(keys: Iterable[str], before: bytes | None = None) -> bytes:
    """The 8-byte prefixes of `keys` (hex component keys) added to those packed `before`, in one blob."""
    prefixes = dict.fromkeys([*_prefixes(before or b""), *map(_prefix, keys)])
    return b"".join(prefixes)


def _prefix(key: str) -> bytes:
    """A key is a SHA-256 in hex (ingest/identity.py): its first bytes are as good as a hash."""
    try:
        return bytes.fromhex(key[: PREFIX * 2]) if len(key) >= PREFIX * 2 else _hashed(key)
    except ValueError:  # not hex (a made-up key)
        return _hashed(key)


def _hashed(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()[:PREFIX]


def _prefixes(packed: bytes) -> list[bytes]:
    return [packed[at : at + PREFIX] for at in range(0, len(packed), PREFIX)]
