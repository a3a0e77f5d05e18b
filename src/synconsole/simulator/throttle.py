"""The simulator's per-key rate limit, shaped like Cal.com's throttler.

A fixed window starts at a key's first request; the request past ``limit`` is answered 429 and the
key is blocked for ``block_s`` (every request during the block is 429 too, and is counted in
``received_while_blocked``: a well-behaved client keeps that at zero). ``Reset`` is whole seconds
until the window or the block ends, rounded up, as Cal.com sends it. The headers carry the
limit's name (``X-RateLimit-Remaining-<Name>``): ``Default`` for a key without custom limits,
another name for keys whose limits Cal.com raised.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    window_start: float | None = None
    hits: int = 0
    blocked_until: float | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    name: str = "Default"

    def headers(self) -> dict[str, str]:
        return {
            f"X-RateLimit-Limit-{self.name}": str(self.limit),
            f"X-RateLimit-Remaining-{self.name}": str(self.remaining),
            f"X-RateLimit-Reset-{self.name}": str(self.reset_s),
        }


class Throttle:
    def __init__(self, limit: int, window_s: float, block_s: float, name: str = "Default") -> None:
        if limit < 1 or window_s <= 0 or block_s < 0:
            raise ValueError("rate limit needs limit >= 1, window_s > 0, block_s >= 0")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("rate limit name must be letters and digits")
        self.name = name
        self.limit = limit
        self.window_s = window_s
        self.block_s = block_s
        self._buckets: dict[str, _Bucket] = {}
        self.requests = 0
        self.throttled_429 = 0
        self.received_while_blocked = 0

    def hit(self, key: str, now: float) -> Verdict:
        """Count one request of ``key`` (kept hashed: the simulator holds no raw keys)."""
        self.requests += 1
        bucket = self._buckets.setdefault(hashlib.sha256(key.encode()).hexdigest(), _Bucket())
        if bucket.blocked_until is not None:
            if now < bucket.blocked_until:
                self.received_while_blocked += 1
                self.throttled_429 += 1
                return Verdict(False, self.limit, 0, _ceil(bucket.blocked_until - now), self.name)
            bucket.blocked_until, bucket.window_start, bucket.hits = None, None, 0
        if bucket.window_start is None or now >= bucket.window_start + self.window_s:
            bucket.window_start, bucket.hits = now, 0
        bucket.hits += 1
        if bucket.hits > self.limit:
            bucket.blocked_until = now + self.block_s
            self.throttled_429 += 1
            return Verdict(False, self.limit, 0, _ceil(self.block_s), self.name)
        reset = bucket.window_start + self.window_s - now
        return Verdict(True, self.limit, self.limit - bucket.hits, _ceil(reset), self.name)

    def reset(self) -> None:
        self._buckets.clear()
        self.requests = self.throttled_429 = self.received_while_blocked = 0

    def stats(self) -> dict[str, int | float]:
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "block_s": self.block_s,
            "requests": self.requests,
            "throttled_429": self.throttled_429,
            "received_while_blocked": self.received_while_blocked,
        }


def _ceil(seconds: float) -> int:
    return max(0, math.ceil(seconds - 1e-9))
