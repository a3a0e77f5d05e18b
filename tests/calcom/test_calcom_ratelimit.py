"""RateLimiter rules, on a fake clock (deterministic, no real waiting)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from synconsole.calcom.ratelimit import SHARED_WAIT_MAX_S, RateLimiter


def _headers(remaining: int, reset: float, limit: int = 120) -> dict[str, str]:
    return {
        "X-RateLimit-Limit-Default": str(limit),
        "X-RateLimit-Remaining-Default": str(remaining),
        "X-RateLimit-Reset-Default": str(reset),
    }


def make(fake_time, per_window: int = 120, **kwargs) -> RateLimiter:
    return RateLimiter(per_window, clock=fake_time.clock, sleep=fake_time.sleep, **kwargs)


async def _pending(task: asyncio.Task, rounds: int = 5) -> bool:
    for _ in range(rounds):
        await asyncio.sleep(0)
    return not task.done()


async def test_local_budget_per_window(fake_time):
    limiter = make(fake_time, per_window=3, window_s=60)
    for _ in range(3):
        await limiter.acquire()
        limiter.release(200, {})
    assert fake_time.now == 1000.0
    await limiter.acquire()  # the fourth waits until the first leaves the window
    assert fake_time.now >= 1060.0
    assert limiter.stats().sent == 4


async def test_first_request_is_a_probe_until_the_server_answers(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    assert await _pending(second), "a second request went out before the server told the budget"
    limiter.release(200, _headers(remaining=50, reset=30))
    await asyncio.wait_for(second, 1)
    assert limiter.stats().in_flight == 1


async def test_answer_without_headers_lets_the_next_probe_go(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    assert await _pending(second)
    limiter.release(None, None)  # e.g. a connection error
    await asyncio.wait_for(second, 1)


async def test_remaining_zero_waits_for_the_reset(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(200, _headers(remaining=0, reset=5))
    assert limiter.stats().remaining == 0
    await limiter.acquire()
    assert fake_time.now >= 1005.0


async def test_budget_from_server_counts_requests_still_in_flight(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(200, _headers(remaining=4, reset=10))
    for _ in range(4):  # exactly the budget goes out at once
        await limiter.acquire()
    assert fake_time.now == 1000.0
    fifth = asyncio.create_task(limiter.acquire())
    assert await _pending(fifth)
    # The server reports less than we thought: someone else spends this key's budget.
    limiter.release(200, _headers(remaining=1, reset=10))  # 3 others still in flight: 1 - 3 < 0
    assert limiter.stats().server_remaining == -2
    for _ in range(5):
        await asyncio.sleep(0)
    assert fake_time.now >= 1010.0  # it slept until the server's reset ...
    assert not fifth.done()  # ... and then the budget is unknown while 3 are in flight: wait for an answer
    limiter.release(200, _headers(remaining=5, reset=60))
    await asyncio.wait_for(fifth, 1)


async def test_429_blocks_everyone_until_the_reset(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(200, _headers(remaining=10, reset=60))
    await limiter.acquire()
    limiter.release(429, _headers(remaining=0, reset=30))
    stats = limiter.stats()
    assert stats.throttled_429 == 1 and stats.blocked_until == pytest.approx(1030.0) and stats.remaining == 0
    sent_at: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        sent_at.append(fake_time.now)

    waiters = [asyncio.create_task(one()) for _ in range(3)]
    await asyncio.sleep(0)
    done, _ = await asyncio.wait(waiters, timeout=0.2)
    # After the block the budget is unknown: exactly one probe goes, the others wait for its answer.
    assert len(done) == 1 and sent_at[0] >= 1030.0
    limiter.release(200, _headers(remaining=10, reset=60))
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert min(sent_at) >= 1030.0


async def test_429_without_headers_uses_the_default_block(fake_time):
    limiter = make(fake_time, default_block_s=60)
    await limiter.acquire()
    limiter.release(429, None)
    await limiter.acquire()
    assert fake_time.now >= 1060.0


async def test_window_end_makes_the_budget_unknown_again(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(200, _headers(remaining=100, reset=2))
    fake_time.now += 3
    assert limiter.stats().server_remaining is None
    await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    assert await _pending(second), "after the window ended only one probe may go"
    limiter.release(200, _headers(remaining=100, reset=60))
    await asyncio.wait_for(second, 1)


async def test_headers_case_insensitive_and_stats(fake_time):
    limiter = make(fake_time, per_window=10)
    await limiter.acquire()
    limiter.release(200, httpx.Headers({"x-ratelimit-remaining-default": "7", "X-RATELIMIT-RESET-DEFAULT": "9", "x-ratelimit-limit-default": "8"}))
    stats = limiter.stats()
    assert stats.server_limit == 8
    assert stats.server_remaining == 7
    assert stats.remaining == 7  # min(local 9 left, server 7)
    assert stats.sent == 1 and stats.in_flight == 0 and stats.waiting == 0
    assert stats.blocked_until is None and stats.blocked_for_s == 0


def test_rejects_nonsense_configuration():
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(10, window_s=0)


async def test_headers_named_after_a_raised_limit_are_read(fake_time):
    """Cal.com names the headers after the limit (``X-RateLimit-Remaining-<Name>``); ``Default`` is only
    the default name. A key with a raised limit carries another name: read whichever is present."""
    limiter = make(fake_time, per_window=500)
    await limiter.acquire()
    limiter.release(200, {"X-RateLimit-Limit-Raised": "500", "X-RateLimit-Remaining-Raised": "0",
                          "X-RateLimit-Reset-Raised": "20"})
    stats = limiter.stats()
    assert (stats.server_limit, stats.server_remaining, stats.remaining) == (500, 0, 0)
    await limiter.acquire()  # waits for the named window to end
    assert fake_time.now >= 1020.0


async def test_a_429_with_a_named_limit_blocks_for_its_reset(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(429, {"X-RateLimit-Remaining-Short": "0", "X-RateLimit-Reset-Short": "45",
                          "X-RateLimit-Remaining-Default": "10", "X-RateLimit-Reset-Default": "5"})
    assert limiter.stats().blocked_for_s == 45


async def test_with_several_limits_the_tightest_counts(fake_time):
    limiter = make(fake_time)
    await limiter.acquire()
    limiter.release(200, {"X-RateLimit-Remaining-Default": "100", "X-RateLimit-Reset-Default": "60",
                          "X-RateLimit-Remaining-Burst": "2", "X-RateLimit-Reset-Burst": "10"})
    assert limiter.stats().server_remaining == 2


class _Shared:
    """A shared budget (core/budget.py's protocol) that grants ``tokens`` then says wait."""

    def __init__(self, tokens: int, wait_s: float = 7.0) -> None:
        self.tokens, self.wait_s = tokens, wait_s
        self.asked: list[int] = []
        self.given_back = 0
        self.learned: list[tuple] = []

    async def take(self, waiting: int = 1) -> float:
        self.asked.append(waiting)
        if self.tokens:
            self.tokens -= 1
            return 0.0
        return self.wait_s

    def give_back(self) -> None:
        self.given_back += 1
        self.tokens += 1

    def learn(self, status, remaining, reset_s) -> None:
        self.learned.append((status, remaining, reset_s))


async def test_a_shared_budget_gates_every_request_after_the_local_rules(fake_time):
    shared = _Shared(tokens=2, wait_s=7.0)
    limiter = make(fake_time, per_window=100, shared=shared)
    for _ in range(2):
        await limiter.acquire()
        limiter.release(200, _headers(remaining=50, reset=30))
    assert fake_time.now == 1000.0
    third = asyncio.create_task(limiter.acquire())
    assert await _pending(third)  # the shared budget says wait: it sleeps at most SHARED_WAIT_MAX_S
    shared.tokens = 1
    await asyncio.wait_for(third, 1)
    assert fake_time.sleeps and max(fake_time.sleeps) <= SHARED_WAIT_MAX_S  # asked again, no 7 s wait
    assert shared.learned == [(200, 50, 30.0), (200, 50, 30.0)]


async def test_a_429_is_passed_to_the_shared_budget(fake_time):
    shared = _Shared(tokens=5)
    limiter = make(fake_time, shared=shared)
    await limiter.acquire()
    limiter.release(429, _headers(remaining=0, reset=60))
    assert shared.learned == [(429, 0, 60.0)]
    assert limiter.stats().blocked_for_s == 60.0


async def test_a_shared_token_is_given_back_when_the_local_rules_change_meanwhile(fake_time):
    shared = _Shared(tokens=5)
    gate = asyncio.Event()
    gate.set()
    take = shared.take

    async def slow_take(waiting: int = 1) -> float:
        await gate.wait()
        return await take(waiting)

    shared.take = slow_take
    limiter = make(fake_time, per_window=100, shared=shared)
    await limiter.acquire()
    limiter.release(200, _headers(remaining=50, reset=30))
    await limiter.acquire()  # in flight
    gate.clear()
    second = asyncio.create_task(limiter.acquire())
    assert await _pending(second)  # asking the shared budget
    limiter.release(429, _headers(remaining=0, reset=60))  # meanwhile: blocked
    gate.set()
    await asyncio.wait_for(second, 1)
    assert shared.given_back >= 1  # the token taken during the block went back, unused
    assert fake_time.now >= 1060.0  # and the request waited for the block's end
