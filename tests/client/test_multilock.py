"""Shared and exclusive holds across processes, and reentrant locks.

Separate client instances stand for separate processes; one real process is killed
(SIGKILL) to show that a crash frees its holds at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    LimitMismatchError,
    LockMode,
    LockTimeout,
    SyncDflockClient,
)

from helpers import eventually, eventually_sync

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


@pytest.fixture
async def clients(dflock_settings):
    """Three clients: three processes, as far as the server can tell."""
    made = [AsyncDflockClient(dflock_settings) for _ in range(3)]
    yield made
    for client in made:
        await client.aclose()


def doc(client, max_shared=4):
    return client.multilock("doc", max_shared=max_shared)


async def test_readers_share_and_a_writer_waits_for_them(clients):
    a, b, c = clients
    first = await doc(a).acquire(LockMode.SHARED, 1)
    second = await doc(b).acquire("shared", 1)  # two readers at once
    assert first.held and second.held and first.mode is LockMode.SHARED
    assert await doc(c).mode() is LockMode.SHARED
    writer = asyncio.ensure_future(doc(c).acquire(LockMode.EXCLUSIVE, 10))
    await eventually(lambda: _slot_waiters(c, 1), what="the writer waiting for the slots")
    assert not writer.done()
    await first.release()
    await asyncio.sleep(0.1)  # the scenario: one reader left, the writer must still wait
    assert not writer.done()
    await second.release()
    held = await asyncio.wait_for(writer, 5)
    assert held.mode is LockMode.EXCLUSIVE and len(held.tokens) == 5  # the gate, 4 slots
    assert await doc(a).mode() is LockMode.EXCLUSIVE
    await held.release(wait=True)
    assert await doc(a).mode() is None


async def test_a_reader_that_comes_after_a_waiting_writer_goes_after_it(clients):
    a, b, c = clients
    reader = await doc(a).acquire(LockMode.SHARED, 1)
    order: list[str] = []

    async def take(client, mode, name):
        handle = await doc(client).acquire(mode, 10)
        order.append(name)
        await asyncio.sleep(0.05)
        await handle.release(wait=True)

    writer = asyncio.ensure_future(take(b, LockMode.EXCLUSIVE, "writer"))
    await eventually(lambda: _slot_waiters(a, 1), what="the writer queued")
    late_reader = asyncio.ensure_future(take(c, LockMode.SHARED, "late reader"))
    await eventually(lambda: _gate_waiters(a, 1), what="the late reader queued behind it")
    await reader.release()
    await asyncio.wait_for(asyncio.gather(writer, late_reader), 10)
    assert order == ["writer", "late reader"]


async def test_acquire_nowait_refuses_both_ways(clients):
    a, b, _ = clients
    reader = await doc(a).acquire_nowait(LockMode.SHARED)
    assert reader is not None
    assert await doc(b).acquire_nowait(LockMode.EXCLUSIVE) is None  # a reader is in
    second = await doc(b).acquire_nowait(LockMode.SHARED)  # readers share
    assert second is not None
    await reader.release(wait=True)
    await second.release(wait=True)
    assert await _no_holders(a)
    writer = await doc(a).acquire_nowait(LockMode.EXCLUSIVE)
    assert writer is not None
    assert await doc(b).acquire_nowait(LockMode.SHARED) is None
    assert await doc(b).acquire_nowait(LockMode.EXCLUSIVE) is None
    with pytest.raises(LockTimeout, match="not held exclusive within 0 s"):
        await doc(b).acquire(LockMode.EXCLUSIVE, 0)
    await writer.release(wait=True)
    assert await doc(b).mode() is None  # refused tries leave nothing behind


async def test_max_shared_caps_the_readers(clients):
    a, b, _ = clients
    held = [await doc(a, max_shared=2).acquire("shared", 1) for _ in range(2)]
    assert await doc(b, max_shared=2).acquire_nowait("shared") is None
    for handle in held:
        await handle.release()


async def test_context_managers_and_notify(clients):
    a, b, _ = clients
    async with doc(a).exclusive() as writer:
        assert writer.fence is None or isinstance(writer.fence, int)
        assert await doc(b).notify("shared", timeout_s=0.3) is False
    assert await doc(b).notify("exclusive", timeout_s=5) is True
    async with doc(b).shared() as reader:
        assert reader.mode is LockMode.SHARED
        assert await doc(a).notify("shared", timeout_s=5) is True


async def test_conflicts_are_clear_errors_never_hangs(clients, dflock_compat):
    a, b, _ = clients
    async with doc(a, max_shared=4).shared():
        with pytest.raises(LimitMismatchError, match=r"'doc'.*another max_shared than 3"):
            await doc(b, max_shared=3).acquire("shared", 5)
        if dflock_compat == "1.10":  # one key space for locks and semaphores
            with pytest.raises(LimitMismatchError):
                await b.lock("doc").acquire(5)
    with pytest.raises(ValueError, match="max_shared"):
        a.multilock("doc", max_shared=0)
    with pytest.raises(ValueError, match="lock mode 'read'"):
        await doc(a).acquire("read")


def test_the_sync_client(dflock_settings):
    with SyncDflockClient(dflock_settings) as a, SyncDflockClient(dflock_settings) as b:
        with doc(a).shared() as reader, doc(b).shared():
            assert reader.held
            assert doc(b).acquire_nowait(LockMode.EXCLUSIVE) is None
        with doc(b).exclusive() as writer:
            assert len(writer.tokens) == 5
            assert doc(a).acquire_nowait("shared") is None


HOLDER = textwrap.dedent("""
    import sys, time
    from dflock_integrations import SyncDflockClient
    client = SyncDflockClient(servers=sys.argv[1], key_prefix=sys.argv[2])
    client.multilock("doc", max_shared=4).acquire("exclusive", 5)
    print("held", flush=True)
    time.sleep(60)
""")


def test_a_killed_holder_frees_everything_at_once(dflock_settings):
    address, prefix = str(dflock_settings.servers[0]), dflock_settings.key_prefix
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, address, prefix], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with SyncDflockClient(dflock_settings) as client:
            assert doc(client).acquire_nowait("shared") is None
            holder.kill()  # SIGKILL: its connection closes, and the server releases all
            holder.wait(10)
            with doc(client).exclusive(timeout_s=5) as writer:
                assert writer.held
    finally:
        holder.kill()
        holder.wait(10)


# -- reentrant locks -----------------------------------------------------------------------


async def test_a_task_reenters_while_another_waits(client):
    outer = client.lock("re", reentrant=True)
    async with outer:
        async with client.lock("re", reentrant=True) as inner:  # no second acquire
            assert inner.depth == 2 and inner.token == outer.token

        async def other_task():
            return await client.lock("re", reentrant=True).acquire(0.2)

        assert await asyncio.ensure_future(other_task()) is False  # another task queues
        assert outer.held and outer.depth == 1
    assert not outer.held
    # The other task's wait, cut short, is withdrawn once the server sees its connection
    # close; until then the key may pass to it for a moment.
    await eventually(lambda: _free(client, "re"), what="the lock free")


def test_a_thread_reenters_while_another_waits(dflock_client):
    with dflock_client.lock("re", reentrant=True) as outer:
        with dflock_client.lock("re", reentrant=True) as inner:
            assert inner.depth == 2 and inner.token == outer.token
        got: list[bool] = []
        other = threading.Thread(
            target=lambda: got.append(dflock_client.lock("re", reentrant=True).acquire(0.2))
        )
        other.start()
        other.join(5)
        assert got == [False]
        assert outer.held
    eventually_sync(lambda: dflock_client.stats().find(outer.key) is None, what="the lock free")


async def _slot_waiters(client, count) -> bool:
    """The writer holds the gate and queues for the slots the readers hold."""
    entry = (await client.stats()).find(client.settings.key_prefix + "doc")
    return entry is not None and entry["waiters"] == count


async def _gate_waiters(client, count) -> bool:
    stats = await client.stats()
    entry = stats.find(client.settings.key_prefix + "doc|gate")
    return entry is not None and entry["waiters"] == count


async def _free(client, name) -> bool:
    return (await client.stats()).find(client.settings.key_prefix + name) is None


async def _no_holders(client) -> bool:
    return await doc(client).mode() is None
