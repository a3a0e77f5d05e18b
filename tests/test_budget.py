"""The shared rate budget (core/budget.py) on SQLite and PostgreSQL, on a clock the test moves:
several processes' worth of takers never exceed the limit in any 60 s, wherever the window starts,
and still use at least 95% of it; a 429 seen by one stops all of them until its reset."""

from __future__ import annotations

import asyncio

import pytest

from synconsole.core import budget
from synconsole.core.budget import SharedBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _greedy(db, limit: int, takers: int, minutes: float) -> list[float]:
    """``takers`` budgets (as many processes) each sending whenever allowed; the send times."""
    clock = Clock()
    parts = [SharedBudget(db, "default", limit, clock=clock) for _ in range(takers)]
    sent: list[float] = []
    end = clock.now + minutes * 60

    async def go() -> None:
        waits = [0.0] * takers
        while clock.now < end:
            for i, part in enumerate(parts):
                if waits[i] <= clock.now:
                    wait = await part.take(waiting=2)
                    if wait == 0.0:
                        sent.append(clock.now)
                    else:
                        waits[i] = clock.now + wait
            clock.now += 0.05

    asyncio.run(go())
    return sent


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("limit, takers", [(120, 1), (120, 4), (40, 3)])
def test_no_60_seconds_ever_see_more_than_the_limit_and_95_percent_is_used(db, limit, takers):
    sent = _greedy(db, limit, takers, minutes=3)
    assert _max_in_window(sorted(sent)) <= limit
    assert len(sent) >= 0.95 * limit * 3, len(sent)


def test_a_429_seen_by_one_process_stops_them_all_until_its_reset(db):
    clock = Clock()
    one, other = (SharedBudget(db, "default", 120, clock=clock) for _ in range(2))

    async def go():
        assert await one.take() == 0.0
        one.learn(429, 0, 60)
        await one.flush()
        wait = await other.take()
        assert 59 <= wait <= 60
        clock.now += 61
        assert await other.take() == 0.0

    asyncio.run(go())
    (state,) = budget.states(db, now=clock.now).values()
    assert (state.requests_429, state.account) == (1, "default")


def test_a_key_spent_by_someone_else_empties_the_bucket_until_the_reset(db):
    clock = Clock()
    part = SharedBudget(db, "default", 120, clock=clock)

    async def go():
        part.learn(200, 0, 20)  # Cal.com says nothing is left for 20 s: another client of the key
        await part.flush()
        assert 19 <= await part.take() <= 20
        clock.now += 21
        assert await part.take() == 0.0

    asyncio.run(go())


def test_tokens_taken_ahead_lapse_within_a_second(db):
    clock = Clock()
    part = SharedBudget(db, "default", 120, clock=clock)

    async def go():
        assert await part.take(waiting=4) == 0.0  # took 4, used 1
        clock.now += 5
        before = part.reservations
        assert await part.take() == 0.0
        assert part.reservations == before + 1  # the 3 held ones lapsed: a new reservation

    asyncio.run(go())


def test_two_accounts_have_two_budgets(db):
    clock = Clock()
    a, b = SharedBudget(db, "acme", 40, clock=clock), SharedBudget(db, "globex", 120, clock=clock)

    async def go():
        a.learn(429, 0, 60)
        await a.flush()
        assert await a.take() > 0 and await b.take() == 0.0

    asyncio.run(go())
    assert set(budget.states(db, now=clock.now)) == {"acme", "globex"}


def test_reservations_come_in_small_batches_and_an_empty_bucket_is_not_asked_again_early(db):
    clock = Clock()
    assert SharedBudget(db, "oauth", 500, clock=clock).batch(1) == 2  # a quarter second's worth at 500/min
    assert SharedBudget(db, "oauth", 500, clock=clock).batch(5) == 5  # or every request waiting
    part = SharedBudget(db, "default", 120, clock=clock)
    assert part.batch(1) == 1

    async def go():
        assert await part.take(waiting=4) == 0.0  # the bucket's 4 tokens, one reservation
        for _ in range(3):
            assert await part.take() == 0.0
        before = part.reservations
        wait = await part.take()  # empty: one reservation says when the next token comes
        assert 0 < wait <= 60 / 116 + 0.01 and part.reservations == before + 1
        for _ in range(5):  # asked again before then: no transaction
            assert await part.take() > 0
        assert part.reservations == before + 1
        clock.now += wait
        assert await part.take() == 0.0 and part.reservations == before + 2

    asyncio.run(go())
