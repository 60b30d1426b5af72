"""Token buckets in memory: a burst, then a steady rate, per key.

Per process: with several web processes each keeps its own buckets, so the real limit
is that many times higher. That is enough to stop one client hammering the database or
one subscriber's row; a platform-wide limit belongs in front of the app.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`take(key)` returns 0 when allowed, else the seconds until the next request would be."""

    def __init__(self, *, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 50_000):
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be at least 1 and per_second positive")
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, _Bucket] = {}

    def take(self, key: Hashable) -> float:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled (they behave like new ones); if none have, the oldest half.

        Keeps memory bounded when many addresses pass by."""
        full_after = self.burst / self.per_second
        idle = [key for key, b in self._buckets.items() if now - b.at >= full_after]
        if not idle:
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            idle = by_age[: max(1, len(by_age) // 2)]
        for key in idle:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
