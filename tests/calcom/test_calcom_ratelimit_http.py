"""Bursts through the client against a simulator with a small limit, over real HTTP.

The simulator counts every request it receives while a key is blocked; the client must keep that
at zero and never collect more than one 429 per window.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.calcom.ratelimit import RateLimiter
from synconsole.simulator import SimulatorServer

KEY = "cal_test_ratelimit"
HEADERS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {KEY}"}


@pytest.fixture
def small_limit():
    # 5 requests per 1 s window, then blocked for 1 s: the client believes the default 120/min.
    with SimulatorServer(api_key=KEY, rate_limit=5, rate_window_s=1, block_s=1) as server:
        yield server


async def test_burst_of_two_clients_sharing_a_limiter_never_trips_the_limit(small_limit):
    limiter = RateLimiter(120)
    async with (
        CalcomClient(small_limit.url, KEY, max_concurrency=4, limiter=limiter) as first,
        CalcomClient(small_limit.url, KEY, max_concurrency=4, limiter=limiter) as second,
    ):
        calls = [c.list_bookings(take=1) for c in (first, second) for _ in range(6)]
        started = time.monotonic()
        results = await asyncio.gather(*calls, return_exceptions=True)
        elapsed = time.monotonic() - started
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    stats = small_limit.state.throttle.stats()
    assert stats["requests"] == 12
    assert stats["received_while_blocked"] == 0
    assert stats["throttled_429"] == 0
    assert limiter.stats().sent == 12 and limiter.stats().throttled_429 == 0
    assert elapsed >= 1.0, "12 requests at 5 per second cannot all be done within one window"


async def test_budget_spent_by_someone_else_costs_one_429_and_nothing_while_blocked(small_limit):
    # Another process using the same key spends the whole window.
    async with httpx.AsyncClient(base_url=small_limit.url, headers=HEADERS) as outsider:
        for _ in range(5):
            assert (await outsider.get("/v2/bookings")).status_code == 200
    async with CalcomClient(small_limit.url, KEY, max_concurrency=4) as client:
        results = await asyncio.gather(*(client.list_bookings(take=1) for _ in range(4)), return_exceptions=True)
        limiter_stats = client.limiter.stats()
    throttled = [r for r in results if isinstance(r, CalcomError)]
    assert len(throttled) == 1, results  # the probe found the limit; the others waited out the block
    assert throttled[0].status == 429 and throttled[0].code == "ThrottlerException"
    assert not throttled[0].outcome_unknown  # a 429 was not executed: safe for the caller to retry later
    assert sum(1 for r in results if isinstance(r, tuple)) == 3
    stats = small_limit.state.throttle.stats()
    assert stats["throttled_429"] == 1
    assert stats["received_while_blocked"] == 0
    assert limiter_stats.throttled_429 == 1


async def test_simulator_counts_requests_received_while_blocked(small_limit):
    """The counter the tests above rely on really counts (a careless client is caught)."""
    async with httpx.AsyncClient(base_url=small_limit.url, headers=HEADERS) as careless:
        statuses = [(await careless.get("/v2/bookings")).status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    stats = small_limit.state.throttle.stats()
    assert stats["received_while_blocked"] == 2 and stats["throttled_429"] == 3
