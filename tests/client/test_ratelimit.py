"""Rate limits across processes: two clients stand for two processes, hammering one key."""

from __future__ import annotations

import asyncio
import time

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    LimitMismatchError,
    Rate,
    RateLimited,
    SyncDflockClient,
)

from helpers import eventually

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [("5/s", 5, 1), ("100/m", 100, 60), ("1000/h", 1000, 3600), ("10/d", 10, 86_400),
     ("10/30s", 10, 30), (" 3 / 2m ", 3, 120)],
)  # fmt: skip
def test_rates(text, count, period):
    assert Rate.parse(text) == Rate(count, period)


@pytest.mark.parametrize("text", ["5", "5/x", "0/s", "5/0s", "five/s", "5/s/s", "1.5/s"])
def test_unsupported_rates_say_what_is_supported(text, dflock_client):
    with pytest.raises(ValueError, match=r"'5/s', '100/m', '1000/h'|at least 1"):
        dflock_client.rate_limiter("api", text)


async def test_no_window_admits_more_than_the_rate_across_processes(dflock_settings):
    async with (
        AsyncDflockClient(dflock_settings) as one,
        AsyncDflockClient(dflock_settings) as two,
    ):
        limiters = [one.rate_limiter("api", "5/s"), two.rate_limiter("api", "5/s")]
        admitted: list[float] = []
        stop = time.monotonic() + 3  # the scenario: three seconds of hammering

        async def hammer(limiter):
            while time.monotonic() < stop:
                if await limiter.try_acquire():
                    admitted.append(time.monotonic())
                await asyncio.sleep(0.005)

        await asyncio.gather(*(hammer(limiter) for limiter in limiters * 3))
    assert len(admitted) >= 10
    admitted.sort()
    for start in admitted:
        in_window = [t for t in admitted if start <= t < start + 1]
        # The server's clock counts a lease from its grant; ours from the answer: allow
        # the answers' own spread of a few milliseconds at the window's edges.
        assert len([t for t in in_window if t < start + 0.99]) <= 5, in_window


async def test_a_blocking_acquire_waits_its_turn(client):
    limiter = client.rate_limiter("jobs", "5/s")
    started = time.monotonic()
    for _ in range(10):
        await limiter.acquire(5)
    assert time.monotonic() - started >= 1  # the second five wait for the first to end


async def test_over_budget_without_waiting_is_rate_limited_with_a_retry_hint(client):
    limiter = client.rate_limiter("burst", "2/m")
    assert await limiter.try_acquire() and await limiter.try_acquire()
    assert await limiter.try_acquire() is False
    with pytest.raises(RateLimited, match="2 per 60 s") as refused:
        await limiter.acquire(0)
    assert 0 < refused.value.retry_after_s <= 60  # this process holds both: exact
    assert isinstance(refused.value, TimeoutError)


async def test_two_rates_on_one_key_are_a_clear_error(client):
    assert await client.rate_limiter("api", "5/s").try_acquire()
    with pytest.raises(LimitMismatchError, match="another rate"):
        await client.rate_limiter("api", "6/s").try_acquire()


async def test_asking_again_gives_the_same_limiter_and_its_exact_retry_after(client):
    # An adapter asks on every request or task run: a new limiter each time would park
    # each admission on a connection of its own and forget the ones it made.
    first = client.rate_limiter("again", "2/m", label="again")
    assert client.rate_limiter("again", "2/m", label="again") is first
    assert client.rate_limiter("again", "2/m", acquire_timeout_s=0, label="again") is not first
    assert client.rate_limiter("again", "2/m", label="other") is not first
    for _ in range(2):
        assert await client.rate_limiter("again", "2/m", label="again").try_acquire()
    again = client.rate_limiter("again", "2/m", label="again")
    assert not await again.try_acquire()
    assert 55 < again.retry_after_s <= 60  # both admissions known: the exact wait
    assert len(client._keeper._parked) == 1


def test_the_sync_client_gives_the_same_limiter_too(dflock_client):
    limiter = dflock_client.rate_limiter("again", "5/s")
    assert dflock_client.rate_limiter("again", "5/s") is limiter
    assert dflock_client.rate_limiter("again", Rate(5, 1)) is limiter


async def test_parked_admissions_are_bounded_and_cost_nothing_after_their_period(client):
    limiter = client.rate_limiter("short", "3/s")
    for _ in range(6):
        await limiter.try_acquire()
    keeper = client._keeper
    assert len(keeper._parked) == 1  # one connection parks all of this key's admissions
    assert len(limiter._parked) <= 3
    await eventually(lambda: not keeper._parked, timeout_s=5, what="the parked connection back")
    assert await limiter.try_acquire()  # and the key admits again


async def test_a_lane_in_use_is_not_given_back_under_it(client):
    # The keeper gives a parked connection back once its parking runs out. Run out while
    # try_acquire awaited its answer, it once went back mid-request (then an assertion).
    limiter = client.rate_limiter("lane", "100/s")
    assert await limiter.try_acquire()
    keeper, lane = client._keeper, limiter._lane
    pending = asyncio.ensure_future(limiter.try_acquire())
    await asyncio.sleep(0)  # one step: the request is sent, its answer not yet read
    assert lane.awaiting == 1
    keeper._parked[lane][1] = 0.0  # the parking ran out (the clock, set back)
    keeper._tend_parked()
    assert keeper.parked(lane)
    assert await pending
    assert limiter._lane is lane and keeper.parked(lane)


def test_the_sync_client(dflock_settings):
    with SyncDflockClient(dflock_settings) as one, SyncDflockClient(dflock_settings) as two:
        a, b = one.rate_limiter("api", "3/s"), two.rate_limiter("api", "3/s")
        results = [limiter.try_acquire() for limiter in (a, b, a, b, a)]
        assert results.count(True) == 3
        with pytest.raises(RateLimited):
            a.acquire(0)
        a.acquire(5)  # waits for a slot to end
