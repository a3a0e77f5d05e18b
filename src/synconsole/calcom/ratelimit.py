"""Client-side pacing under Cal.com's per-key rate limit.

Cal.com allows ``rate_limit_per_minute`` requests per API key (120 by default) and, past the limit,
blocks the key for 60 s; repeated overuse has got accounts locked. So the client must never find
the limit by hitting it. The :class:`RateLimiter` combines three constraints, all checked right
before a request is sent (a request *reserves* its slot with :meth:`RateLimiter.acquire` and gives
it back with :meth:`RateLimiter.release`, passing the response headers):

1. A local sliding log: never more than ``per_window`` sends in any ``window_s`` seconds.
2. What the server says: ``X-RateLimit-Remaining-<Name>`` and ``X-RateLimit-Reset-<Name>`` (seconds
   until the window or block ends, not an epoch; there is no ``Retry-After``). ``<Name>`` is the
   limit's name: ``Default`` for a key without custom limits, another for keys whose limits Cal.com
   raised; whichever is present is read, and with several the tightest (least remaining) counts. Requests still in
   flight when a response arrives are assumed not yet counted by the server, so the budget taken
   from a response is ``remaining - in_flight``. When the server's window has ended, the budget is
   unknown again and only one request (a probe) is let out until its answer tells the new budget;
   the same happens at start-up. That keeps a burst from overshooting a budget spent by someone
   else using the same key.
3. A block: after a 429, nothing is sent until the reset it announced has passed.
4. Optionally a budget shared with other processes using the same key (``shared``, see
   :class:`SharedBudget`): after the local rules allow a request, it also takes a token there, and
   what every response says about the key is passed on. The local rules stay the fast path.

One limiter is shared by all concurrent requests of a client and may be shared by several clients
of the same API key (pass the same instance). It is asyncio-only: use it from one event loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

HEADER_LIMIT = "x-ratelimit-limit-"
HEADER_REMAINING = "x-ratelimit-remaining-"
HEADER_RESET = "x-ratelimit-reset-"
#: the longest wait a server's reset may impose (Cal.com's block is 60 s; 1e12 or 31 years is hostile)
MAX_RESET_S = 300.0


class SharedBudget(Protocol):
    """A budget drawn from by every process using one key (``core/budget.py`` keeps it in the database)."""

    async def take(self, waiting: int = 1) -> float:
        """0.0 when a request may go now (its token taken), else the seconds to wait before asking again."""

    def give_back(self) -> None:
        """A token taken and not used (the local rules said wait after all)."""

    def learn(self, status: int | None, remaining: int | None, reset_s: float | None) -> None:
        """What a response said about the key."""


#: the longest one wait for the shared budget lasts before the local rules are checked again
SHARED_WAIT_MAX_S = 5.0


@dataclass(frozen=True)
class RateLimitStats:
    """A snapshot for the console and ``doctor``. Times are seconds of the limiter's clock."""

    sent: int  # requests let out (reserved) so far
    throttled_429: int  # responses that were 429
    blocked_until: float | None  # clock time the current block ends, None when not blocked
    blocked_for_s: float  # seconds left of the current block (0 when not blocked)
    remaining: int  # best estimate of requests that may be sent right now without waiting
    limit: int  # the configured budget per window
    server_limit: int | None  # X-RateLimit-Limit-Default as last seen
    server_remaining: int | None  # budget left in the server's window as we track it; None = unknown
    in_flight: int
    waiting: int


class RateLimiter:
    """Reserve-before-send pacing; see the module docstring for the rules."""

    def __init__(
        self,
        per_window: int = 120,
        *,
        window_s: float = 60.0,
        default_block_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        shared: SharedBudget | None = None,
    ) -> None:
        if per_window < 1:
            raise ValueError("rate limit must be at least 1 request per window")
        if window_s <= 0:
            raise ValueError("rate limit window must be positive")
        self.per_window = int(per_window)
        self.window_s = float(window_s)
        self.default_block_s = float(default_block_s)
        self._clock = clock
        self._sleep = sleep
        self._log: deque[float] = deque()  # send times inside the local window
        self._in_flight = 0
        self._waiting = 0
        self._sent = 0
        self._throttled = 0
        self._blocked_until: float | None = None
        self._server_limit: int | None = None
        self._server_remaining: int | None = None  # None: unknown, probe first
        self._server_reset_at: float | None = None
        self._changed: asyncio.Event | None = None
        self.shared = shared

    def __repr__(self) -> str:
        return (
            f"RateLimiter(per_window={self.per_window}, window_s={self.window_s}, "
            f"in_flight={self._in_flight}, sent={self._sent}, throttled_429={self._throttled})"
        )

    # -- public API -------------------------------------------------------------------------
    async def acquire(self) -> None:
        """Wait until a request may be sent, then reserve its slot. Pair with :meth:`release`."""
        self._waiting += 1
        try:
            while True:
                delay = self._delay(self._clock())
                if delay == 0.0 and self.shared is not None:
                    wait = await self.shared.take(self._waiting)
                    if wait > 0:
                        await self._sleep(min(wait, SHARED_WAIT_MAX_S))
                        continue
                    delay = self._delay(self._clock())  # the rules may have changed meanwhile
                    if delay != 0.0:
                        self.shared.give_back()
                if delay == 0.0:
                    self._reserve(self._clock())
                    return
                if delay is None:  # a probe is in flight: wait for its answer
                    await self._event().wait()
                else:
                    await self._sleep(delay)
        finally:
            self._waiting -= 1

    def release(self, status: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        """Give back the slot of a finished request, learning from its status and headers.

        Call exactly once per :meth:`acquire`, also when no response came (status ``None``).
        """
        self._in_flight = max(0, self._in_flight - 1)
        now = self._clock()
        limit, remaining, reset = _named_limit(_lower(headers), blocked=status == 429)
        if reset is not None:
            reset = min(reset, MAX_RESET_S)
        if limit is not None and limit > 0:
            self._server_limit = limit
        if self.shared is not None and (status == 429 or remaining is not None):
            self.shared.learn(status, remaining, reset)
        if status == 429:
            self._throttled += 1
            block = reset if reset is not None else self.default_block_s
            until = now + max(0.0, block)
            if self._blocked_until is None or until > self._blocked_until:
                self._blocked_until = until
            # After the block the server's budget is unknown: probe again.
            self._server_remaining = None
            self._server_reset_at = None
        elif remaining is not None:
            reset_at = now + (reset if reset is not None else self.window_s)
            budget = remaining - self._in_flight  # others in flight may not be counted yet
            if self._server_remaining is None or budget < self._server_remaining or (
                budget == self._server_remaining
                and (self._server_reset_at is None or reset_at > self._server_reset_at)
            ):
                self._server_remaining = budget
                self._server_reset_at = reset_at
        self._notify()

    def stats(self) -> RateLimitStats:
        now = self._clock()
        self._expire(now)
        blocked_for = max(0.0, (self._blocked_until or now) - now)
        local_left = self.per_window - len(self._log)
        remaining = local_left
        if self._server_remaining is not None:
            remaining = min(remaining, self._server_remaining)
        if blocked_for > 0:
            remaining = 0
        return RateLimitStats(
            sent=self._sent,
            throttled_429=self._throttled,
            blocked_until=self._blocked_until if blocked_for > 0 else None,
            blocked_for_s=blocked_for,
            remaining=max(0, remaining),
            limit=self.per_window,
            server_limit=self._server_limit,
            server_remaining=self._server_remaining,
            in_flight=self._in_flight,
            waiting=self._waiting,
        )

    # -- internals ----------------------------------------------------------------------------
    def _expire(self, now: float) -> None:
        while self._log and self._log[0] <= now - self.window_s:
            self._log.popleft()
        if self._blocked_until is not None and now >= self._blocked_until:
            self._blocked_until = None
        if self._server_reset_at is not None and now >= self._server_reset_at:
            self._server_remaining = None  # the server's window ended: unknown until a probe answers
            self._server_reset_at = None

    def _delay(self, now: float) -> float | None:
        """0.0: send now; a positive number: sleep that long and check again; None: wait for a response."""
        self._expire(now)
        if self._blocked_until is not None:
            return max(self._blocked_until - now, 1e-3)
        if len(self._log) >= self.per_window:
            return max(self._log[0] + self.window_s - now, 1e-3)
        if self._server_remaining is not None and self._server_remaining <= 0:
            if self._server_reset_at is None:
                return None
            return max(self._server_reset_at - now, 1e-3)
        if self._server_remaining is None and self._in_flight > 0:
            return None
        return 0.0

    def _reserve(self, now: float) -> None:
        self._log.append(now)
        self._in_flight += 1
        self._sent += 1
        if self._server_remaining is not None:
            self._server_remaining -= 1

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _named_limit(headers: Mapping[str, str], *, blocked: bool) -> tuple[int | None, int | None, float | None]:
    """(limit, remaining, reset) of the limit the headers name (``X-RateLimit-*-<Name>``): the one
    with the least remaining; on a 429 the longest reset of any (the block that applies)."""
    names = {k[len(HEADER_REMAINING):] for k in headers if k.startswith(HEADER_REMAINING)}
    names |= {k[len(HEADER_RESET):] for k in headers if k.startswith(HEADER_RESET)}
    if not names:
        return None, None, None
    def remaining_of(name: str) -> float:
        value = _int_header(headers, HEADER_REMAINING + name)
        return math.inf if value is None else value
    name = min(sorted(names), key=remaining_of)
    reset = _float_header(headers, HEADER_RESET + name)
    if blocked:
        resets = [r for n in names if (r := _float_header(headers, HEADER_RESET + n)) is not None]
        reset = max(resets) if resets else None
    return (_int_header(headers, HEADER_LIMIT + name), _int_header(headers, HEADER_REMAINING + name), reset)


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    number = _float_header(headers, name)
    return None if number is None else int(number)
