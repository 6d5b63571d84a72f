"""Locks and semaphores through the async client, against the embedded server over TCP."""

import asyncio
import itertools

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    InvalidKeyError,
    LimitMismatchError,
    LockTimeout,
)

from helpers import eventually

# Every test here runs against the oldest and the newest dflockd generation.
pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


async def test_lock_round_trip_shows_in_stats(client, dflock_compat):
    async with client.lock("order:1") as lock:
        assert lock.held
        assert len(lock.token) == 32
        assert (lock.fence is None) is (dflock_compat == "1.10")
        assert lock.lease > 0
        entry = (await client.stats()).find(lock.key)
        assert entry is not None
        assert entry["server"] == lock.server
        assert lock.key == client.settings.key_prefix + "order:1"
    assert not lock.held
    assert (await client.stats()).find(lock.key) is None


async def test_fences_only_where_the_server_issues_them(client, dflock_compat):
    fences = []
    for _ in range(30):
        async with client.lock("fenced") as lock:
            fences.append(lock.fence)
    if dflock_compat == "1.10":
        assert fences == [None] * 30  # random tokens carry no fence
    else:
        assert all(a < b for a, b in itertools.pairwise(fences))


async def test_connections_are_reused(client):
    for _ in range(20):
        async with client.lock("reuse"):
            pass
    pool = client._pool(client.server_for(client.settings.key_prefix + "reuse"))
    assert pool.idle_count == 1  # released requests pipeline: one connection did it all


async def test_timeout_raises_lock_timeout(client):
    async with client.lock("busy"):
        other = client.lock("busy", acquire_timeout_s=0)
        assert await other.acquire() is False
        with pytest.raises(LockTimeout, match=r"'busy' not granted within 0\.2 s") as info:
            async with client.lock("busy", acquire_timeout_s=0.2):
                pass
        assert isinstance(info.value, TimeoutError)
    await eventually(lambda: _no_state(client, "busy"), what="no waiter left behind after timeouts")


async def _no_state(client, name):
    stats = await client.stats()
    return stats.find(client.settings.key_prefix + name) is None


async def test_semaphore_never_exceeds_limit(client):
    running = 0
    peak = 0

    async def worker():
        nonlocal running, peak
        async with client.semaphore("pool", limit=3, acquire_timeout_s=10):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(worker() for _ in range(15)))
    assert peak == 3


async def test_semaphore_full_raises(client):
    held = [client.semaphore("slots", limit=2) for _ in range(2)]
    for slot in held:
        assert await slot.acquire()
    with pytest.raises(LockTimeout, match="semaphore slot"):
        async with client.semaphore("slots", limit=2, acquire_timeout_s=0):
            pass
    for slot in held:
        await slot.release()


async def test_limit_mismatch_is_clear(client):
    async with client.semaphore("mixed", limit=3):
        with pytest.raises(LimitMismatchError, match="mixed"):
            await client.semaphore("mixed", limit=2).acquire()


async def test_a_lock_and_a_semaphore_share_a_key_only_before_1_14(client, dflock_compat):
    async with client.semaphore("mixed", limit=3):
        lock = client.lock("mixed")
        if dflock_compat == "1.10":
            with pytest.raises(LimitMismatchError, match="mixed"):
                await lock.acquire()
        else:
            assert await lock.acquire(0)  # separate key spaces from v1.14
            await lock.release()


async def test_two_phase(client):
    first = client.lock("phase")
    assert await first.enqueue() is True
    second = client.lock("phase")
    assert await second.enqueue() is False
    waiter = asyncio.create_task(second.wait(5))
    await first.release()
    assert await waiter is True
    assert second.held
    await second.release()


async def test_two_phase_timeout_leaves_nothing(client):
    async with client.lock("phase-timeout"):
        second = client.lock("phase-timeout")
        assert await second.enqueue() is False
        assert await second.wait(0.1) is False
    await eventually(lambda: _no_state(client, "phase-timeout"), what="withdrawn waiter")


async def test_wait_without_enqueue_is_an_error(client):
    with pytest.raises(RuntimeError, match="enqueue"):
        await client.lock("nope").wait()


async def test_bad_keys_fail_before_any_io(client):
    with pytest.raises(InvalidKeyError, match="whitespace"):
        client.lock("two words")
    with pytest.raises(ValueError, match="limit"):
        client.semaphore("s", limit=0)
    with pytest.raises(ValueError, match="lease_ttl_s"):
        client.lock("k", lease_ttl_s=0)


async def test_cancelled_waiters_leak_nothing(client):
    """Waiters cancelled at random points, some just as their grant arrives."""
    holder = client.lock("cancel")
    await holder.acquire()
    tasks = [asyncio.create_task(_hold_briefly(client)) for _ in range(40)]
    await eventually(lambda: _waiters(client, "cancel", 40), what="40 queued waiters")
    for task in tasks[::2]:
        task.cancel()
    await holder.release()
    for task in tasks[1::4]:
        await asyncio.sleep(0)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await eventually(lambda: _no_state(client, "cancel"), what="no lock and no waiter left")


async def _hold_briefly(client):
    async with client.lock("cancel", acquire_timeout_s=30):
        await asyncio.sleep(0.005)


async def _waiters(client, name, count):
    entry = (await client.stats()).find(client.settings.key_prefix + name)
    return entry is not None and entry.get("waiters") == count


async def test_thousand_contenders_fifo_single_holder(dflock_settings):
    """Enqueued in a known order, 1,000 contenders are granted in that order, one at a time."""
    async with AsyncDflockClient(dflock_settings, pool_max_idle=0) as client:
        handles = [client.lock("fifo", acquire_timeout_s=60) for _ in range(1000)]
        granted_first = [await h.enqueue() for h in handles]
        assert granted_first[0] is True
        assert not any(granted_first[1:])
        order: list[int] = []
        holders = 0

        async def run(index, handle):
            nonlocal holders
            assert await handle.wait()
            holders += 1
            assert holders == 1, "two holders at once"
            order.append(index)
            await asyncio.sleep(0)
            holders -= 1
            await handle.release()

        await asyncio.gather(*(run(i, h) for i, h in enumerate(handles)))
        assert order == list(range(1000))


async def test_lease_is_a_lock_without_a_limit_and_a_semaphore_with_one(client):
    """What adapters taking either (rules, decorators, `dflock run`) build their handle with."""
    lock = client.lease("either", acquire_timeout_s=0, lease_ttl_s=7)
    slot = client.lease("slots", limit=3)
    assert (lock.kind, lock.limit, lock.acquire_timeout_s, lock.lease_ttl_s) == ("lock", None, 0, 7)
    assert (slot.kind, slot.limit) == ("semaphore", 3)
    async with lock, slot:
        assert lock.held and slot.held


def test_lease_options_are_checked_once_per_pair_and_a_bool_never_passes(dflock_client):
    """An adapter passes the same options on every request: checked the first time."""
    first = dflock_client.lock("opts", acquire_timeout_s=1, lease_ttl_s=5)
    again = dflock_client.semaphore("opts2", limit=2, acquire_timeout_s=1, lease_ttl_s=5)
    assert (first.acquire_timeout_s, first.lease_ttl_s) == (again.acquire_timeout_s, 5)
    with pytest.raises(ValueError, match="lease_ttl_s"):
        dflock_client.lock("opts", acquire_timeout_s=1, lease_ttl_s=True)  # True == 1, refused
    with pytest.raises(ValueError, match="lease_ttl_s"):
        dflock_client.lock("opts", acquire_timeout_s=1, lease_ttl_s=0)
