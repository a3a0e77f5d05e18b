"""Cal.com's rate budget per API key, shared by every process on one database.

Cal.com counts requests per key, whoever sends them (120 per 60 s by default), and blocks the key
for 60 s past the limit. Each process pacing itself sees only its own requests, so N workers send
N times the budget. Here the budget is a token bucket in the database (``rate_budget``, one row
per Cal.com account): it holds at most ``burst`` tokens and refills at ``(limit - burst)`` per 60 s,
so in *any* 60 s, wherever Cal.com's fixed window happens to start, all processes together send at
most ``limit`` requests. A process takes tokens only for requests about to be sent (several at
once when several wait), in one short transaction (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE``
on PostgreSQL); tokens not used within a second lapse, so nothing is hoarded.

What Cal.com answers still corrects it: a 429 (or a block) seen by any process is written to the
row, and no process sends until it ends; a response showing the key nearly spent (another client
of the same key) empties the bucket until the window resets.

:class:`SharedBudget` is what the Cal.com client's rate limiter asks before every request
(``calcom/ratelimit.py`` knows only its small protocol, not the database).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import RateBudget

logger = logging.getLogger("synconsole.budget")
T = RateBudget.__table__
#: how long tokens taken ahead stay usable: a request waits for a token, it does not keep one
TOKEN_TTL_S = 1.0
#: the longest block ever believed (Cal.com blocks for 60 s; an absurd reset header is clamped)
MAX_BLOCK_S = 15 * 60.0


def default_burst(limit_per_minute: int) -> int:
    """Tokens the bucket may hold: 4% of the limit (at least 1), so the sustained rate stays at
    96% of it and a burst never crosses it."""
    return max(1, math.floor(limit_per_minute * 0.04))


@dataclass(frozen=True)
class BudgetState:
    """What ``status`` and the console show of one account's budget."""

    account: str
    limit_per_minute: int
    burst: int
    tokens: float
    blocked_for_s: float
    reservations: int
    requests_429: int
    granted: int
    #: requests granted in the minute being counted (0 once that minute is over)
    used_this_minute: int = 0
    paused: bool = False
    paused_reason: str | None = None

    @property
    def use(self) -> float:
        """The share of the per-minute limit granted in the minute being counted."""
        return self.used_this_minute / self.limit_per_minute if self.limit_per_minute else 0.0

    def to_json(self) -> dict:
        return {"account": self.account, "limit_per_minute": self.limit_per_minute, "burst": self.burst,
                "tokens": round(self.tokens, 2), "blocked_for_s": round(self.blocked_for_s, 1),
                "reservations": self.reservations, "requests_429": self.requests_429, "granted": self.granted,
                "used_this_minute": self.used_this_minute, "use": round(self.use, 3), "paused": self.paused,
                "paused_reason": self.paused_reason}


class SharedBudget:
    """One account's budget, as one process draws from it (the rate limiter's ``shared`` hook)."""

    def __init__(self, db: Database, account: str, limit_per_minute: int, *, burst: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self.db = db
        self.account = account
        self.limit = int(limit_per_minute)
        self.burst = min(self.limit, burst if burst is not None else default_burst(self.limit))
        self.rate_per_s = max(self.limit - self.burst, 1) / 60.0
        self._clock = clock
        self._held = 0  # tokens taken and not used yet
        self._held_until = 0.0
        self._next_try = 0.0  # when the empty bucket has its next token (no reservation before)
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Task] = set()
        self.reservations = 0  # transactions this process made (the benchmark's database cost)

    async def take(self, waiting: int = 1) -> float:
        """Take a token for a request about to be sent: 0.0 when granted, else the seconds to wait
        before asking again. ``waiting``: requests queued behind this one (taken together)."""
        async with self._lock:
            now = self._clock()
            if self._held and now <= self._held_until:
                self._held -= 1
                return 0.0
            if now < self._next_try:  # the bucket was empty: no token before then, whoever asks
                return self._next_try - now
            # A database fault is the caller's, as for any other write: nothing is sent on a guess,
            # and a sync stops with the fault's one line (waiting here hung `sync --once` on a full disk).
            granted, wait = await asyncio.to_thread(self._reserve, self.batch(waiting))
            now = self._clock()
            self._next_try = now + wait  # other processes only take tokens: none comes earlier
            if granted:
                self._held, self._held_until = granted - 1, now + TOKEN_TTL_S
                return 0.0
            return wait

    def batch(self, waiting: int) -> int:
        """Tokens one reservation asks for: every request waiting, and at high limits a quarter
        second's worth, so the database sees a few transactions a second, not one per request."""
        return max(1, waiting, math.floor(self.rate_per_s * 0.25))

    def give_back(self) -> None:
        """A token taken and not used after all (the local rules said wait): kept for the next
        request while it is still fresh."""
        if self._clock() <= self._held_until:
            self._held += 1

    def learn(self, status: int | None, remaining: int | None, reset_s: float | None) -> None:
        """What a response said about the key: a 429 blocks every process until its reset; a key
        nearly spent by someone else empties the bucket until then."""
        if status == 429:
            self._write(block_s=min(MAX_BLOCK_S, reset_s if reset_s is not None else 60.0), count_429=True)
        elif remaining is not None and remaining < self.burst and reset_s is not None:
            self._write(block_s=min(MAX_BLOCK_S, reset_s) if remaining <= 0 else 0.0, drain=True)

    async def flush(self) -> None:
        """Wait for the writes :meth:`learn` started (before shutting down, in tests)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # -- the database ----------------------------------------------------------------------------

    def _row(self, session) -> RateBudget:
        from synconsole.core.db import row_for_update

        return row_for_update(session, RateBudget, self.account, limit_per_minute=self.limit, burst=self.burst,
                              tokens=float(self.burst), refreshed_at=self._clock(), blocked_until=0.0,
                              reservations=0, requests_429=0, granted=0, window_start=0.0, window_granted=0)

    def _refill(self, row: RateBudget, now: float) -> None:
        if row.limit_per_minute != self.limit or row.burst != self.burst:  # the config changed
            row.limit_per_minute, row.burst = self.limit, self.burst
        elapsed = max(0.0, now - (row.refreshed_at or now))
        row.tokens = min(float(self.burst), (row.tokens or 0.0) + elapsed * self.rate_per_s)
        row.refreshed_at = now

    def _reserve(self, want: int) -> tuple[int, float]:
        with self.db.write() as session:
            row = self._row(session)
            now = self._clock()
            self.reservations += 1
            row.reservations = (row.reservations or 0) + 1
            if (row.blocked_until or 0.0) > now:
                wait = row.blocked_until - now
                session.commit()
                return 0, wait
            self._refill(row, now)
            granted = min(want, int(row.tokens))
            row.tokens -= granted
            row.granted = (row.granted or 0) + granted
            if now - (row.window_start or 0.0) >= 60.0:
                row.window_start, row.window_granted = now, 0
            row.window_granted = (row.window_granted or 0) + granted
            session.commit()
            # granted fewer than wanted: when the next token comes (0.0: there are more now)
            short = granted < want and row.tokens < 1.0
            return granted, max((1.0 - row.tokens) / self.rate_per_s, 0.01) if short or not granted else 0.0

    def _write(self, *, block_s: float, count_429: bool = False, drain: bool = False) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._apply(block_s, count_429, drain)
            return
        task = loop.create_task(asyncio.to_thread(self._apply, block_s, count_429, drain))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _apply(self, block_s: float, count_429: bool, drain: bool) -> None:
        try:
            with self.db.write() as session:
                row = self._row(session)
                now = self._clock()
                self._refill(row, now)
                if block_s > 0:
                    row.blocked_until = max(row.blocked_until or 0.0, now + block_s)
                if drain or block_s > 0:
                    row.tokens = 0.0
                if count_429:
                    row.requests_429 = (row.requests_429 or 0) + 1
                session.commit()
        except sa.exc.SQLAlchemyError as exc:  # the next response corrects it; the request is not lost
            log(logger, logging.WARNING, "could not record what Cal.com said about the rate budget",
                account=self.account, error=str(exc)[:200])
        self._held = 0
        self._next_try = 0.0  # ask the row: it knows the block


def states(db_or_session, now: float | None = None) -> dict[str, BudgetState]:
    """Every account's budget as stored (for ``status`` and the console); a Database or a session."""
    now = time.time() if now is None else now
    if isinstance(db_or_session, Database):
        with db_or_session.session() as session:
            rows = session.execute(sa.select(RateBudget)).scalars().all()
    else:
        rows = db_or_session.execute(sa.select(RateBudget)).scalars().all()
    out = {}
    for r in rows:
        rate = max(r.limit_per_minute - r.burst, 1) / 60.0
        tokens = min(float(r.burst), r.tokens + max(0.0, now - r.refreshed_at) * rate)
        used = r.window_granted if now - (r.window_start or 0.0) < 60.0 else 0
        out[r.id] = BudgetState(r.id, r.limit_per_minute, r.burst, tokens, max(0.0, r.blocked_until - now),
                                r.reservations, r.requests_429, r.granted, used, bool(r.paused), r.paused_reason)
    return out


def account_states(session, settings, now: float | None = None) -> list[BudgetState]:
    """Each configured Cal.com account's budget and pause, ``default`` first (an account no process
    has drawn from yet: its limit, nothing used)."""
    stored = states(session, now)
    out = []
    for account in settings.accounts:
        limit = account.rate_limit_per_minute
        found = stored.get(account.id)
        if found is None:
            burst = default_burst(limit)
            found = BudgetState(account.id, limit, burst, float(burst), 0.0, 0, 0, 0)
        out.append(found)
    return out
