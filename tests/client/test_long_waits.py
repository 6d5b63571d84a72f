"""A grant that came after a wait in the queue longer than the lease is held, and renewed.

The server starts a lease when it grants it, not when the request was sent: a client
that counted from the request would think such a lease over at once, and lose it.
"""

import asyncio
import threading
import time

import pytest

from dflock_integrations.client import AsyncDflockClient, SyncDflockClient

LEASE_S = 1
WAIT_S = 1.6  # in the queue, longer than the lease


async def test_async_lock_granted_after_a_long_wait(dflock_settings):
    async with AsyncDflockClient(dflock_settings) as client:
        holder = client.lock("long-wait", lease_ttl_s=30)
        assert await holder.acquire()
        waiter = client.lock("long-wait", lease_ttl_s=LEASE_S)
        waiting = asyncio.ensure_future(waiter.acquire(timeout_s=60))
        await asyncio.sleep(WAIT_S)
        assert not waiting.done()
        await holder.release()
        assert await waiting
        assert waiter.expires_at - time.monotonic() > LEASE_S - 1
        await asyncio.sleep(LEASE_S * 1.5)  # renewals keep it
        assert waiter.held and not waiter.lost
        await waiter.release()


@pytest.mark.parametrize("kind", ["semaphore"])
def test_sync_handles_granted_after_a_long_wait(dflock_settings, kind):
    with SyncDflockClient(dflock_settings) as client:

        def handle(lease_s):
            if kind == "lock":
                return client.lock("long-wait-sync", lease_ttl_s=lease_s)
            return client.semaphore("long-wait-sync", limit=1, lease_ttl_s=lease_s)

        holder = handle(30)
        assert holder.acquire()
        waiter = handle(LEASE_S)
        granted = threading.Event()
        thread = threading.Thread(target=lambda: waiter.acquire(timeout_s=60) and granted.set())
        thread.start()
        time.sleep(WAIT_S)
        assert not granted.is_set()
        holder.release(wait=True)
        assert granted.wait(5)
        thread.join(5)
        time.sleep(LEASE_S * 1.5)  # renewals keep it
        assert waiter.held and not waiter.lost
        waiter.release()
