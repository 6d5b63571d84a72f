"""Servers that crash, freeze or go quiet, in their own processes (SIGKILL, SIGSTOP).

Each test stands for a failure measured against the real dflockd: a crash noticed only
at the next renewal, a frozen server costing a lease on a healthy one, calls that
outlived their timeout by 30 s. The bounds asserted here are the client's promises,
not speed targets: a lease is known lost within 1 s of a crash, `acquire(t)` ends
within t + 1 s, and every other call within its connect timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    LockLostError,
    ServerUnavailable,
    SyncDflockClient,
)
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import Wire, eventually, eventually_sync

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def keys_on(client, server, count, stem="k"):
    """Keys (without the prefix) that the client shards onto `server`."""
    found, index = [], 0
    while len(found) < count:
        key = f"{stem}{index}"
        if str(client.server_for(client.settings.key_prefix + key)) == server.address:
            found.append(key)
        index += 1
    return found


# -- a crash is a lost lease at once ----------------------------------------------------------


async def test_async_lease_lost_within_a_second_of_a_crash(dflock_server_process):
    server = dflock_server_process()
    async with AsyncDflockClient(settings_for(server, lease_ttl_s=30)) as client:
        lock = client.lock("job")
        await lock.acquire()
        lost = asyncio.Event()
        lock.on_lost(lambda handle: lost.set())
        server.kill()
        await asyncio.wait_for(lost.wait(), timeout=1.0)
        assert lock.lost and not lock.held


@pytest.mark.parametrize("held_for_s", [0.0, 0.5])
def test_sync_lease_lost_within_a_second_of_a_crash(dflock_server_process, held_for_s):
    server = dflock_server_process()
    with SyncDflockClient(settings_for(server, lease_ttl_s=30)) as client:
        lock = client.lock("job")
        lock.acquire()
        time.sleep(held_for_s)  # the scenario: crash early, or once the loop watches the lease
        lost = threading.Event()
        lock.on_lost(lambda handle: lost.set())
        server.kill()
        assert lost.wait(1.0), "the crash was not noticed within 1 s"
        assert lock.lost


# -- a frozen server costs no lease elsewhere ---------------------------------------------------


def test_a_frozen_server_costs_no_lease_on_another(dflock_server_process):
    frozen, healthy = dflock_server_process(), dflock_server_process()
    settings = settings_for(frozen, lease_ttl_s=2, connect_timeout_s=1)
    settings = settings.replace(servers=[frozen.address, healthy.address])
    with SyncDflockClient(settings) as client, SyncDflockClient(settings) as rival:
        on_frozen = [client.lock(k) for k in keys_on(client, frozen, 4)]
        (healthy_key,) = keys_on(client, healthy, 1)
        on_healthy = client.lock(healthy_key)
        for lock in [*on_frozen, on_healthy]:
            assert lock.acquire()
        frozen.freeze()
        try:
            eventually_sync(
                lambda: all(lock.lost for lock in on_frozen),
                timeout_s=3,
                what="the frozen server's leases lost before they run out",
            )
            # Two more lease periods: renewals on the healthy server go on regardless.
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                assert on_healthy.held
                assert rival.lock(healthy_key).acquire(0) is False
                time.sleep(0.25)
        finally:
            frozen.thaw()
        on_healthy.release(wait=True)


# -- every call keeps its timeout -------------------------------------------------------------


async def test_async_calls_keep_their_timeouts_on_a_frozen_server(dflock_server_process):
    server = dflock_server_process()
    async with AsyncDflockClient(settings_for(server, connect_timeout_s=1)) as client:
        held = client.lock("held")
        await held.acquire()
        server.freeze()
        try:
            for timeout_s, bound in ((0, 1.0), (1, 2.0)):
                started = time.monotonic()
                with pytest.raises(ServerUnavailable, match="did not answer"):
                    await client.lock("other").acquire(timeout_s)
                assert time.monotonic() - started < bound
            for call in (client.stats, client.ping, lambda: held.release(wait=True)):
                started = time.monotonic()
                with pytest.raises(ServerUnavailable):
                    await call()
                assert time.monotonic() - started < 1.5  # the connect timeout, and slack
        finally:
            server.thaw()


def test_sync_calls_keep_their_timeouts_on_a_frozen_server(dflock_server_process):
    server = dflock_server_process()
    with SyncDflockClient(settings_for(server, connect_timeout_s=1)) as client:
        held = client.lock("held")
        held.acquire()
        server.freeze()
        try:
            for timeout_s, bound in ((0, 1.0), (1, 2.0)):
                started = time.monotonic()
                with pytest.raises(ServerUnavailable, match="did not answer"):
                    client.lock("other").acquire(timeout_s)
                assert time.monotonic() - started < bound
            for call in (client.stats, client.ping, lambda: held.release(wait=True)):
                started = time.monotonic()
                with pytest.raises(ServerUnavailable):
                    call()
                assert time.monotonic() - started < 1.5  # the connect timeout, and slack
        finally:
            server.thaw()


async def test_a_thawed_server_serves_again(dflock_server_process):
    server = dflock_server_process()
    async with AsyncDflockClient(settings_for(server, connect_timeout_s=1)) as client:
        server.freeze()
        with pytest.raises(ServerUnavailable):
            await client.lock("k").acquire(0)
        server.thaw()
        async with client.lock("k", acquire_timeout_s=0) as lock:
            assert lock.held


# -- a release the server refuses is still reported ---------------------------------------------


async def test_a_refused_release_reaches_on_lost(client, caplog):
    lock = client.lock("stolen")
    await lock.acquire()
    told = []
    lock.on_lost(told.append)
    # The token travelled and someone else released with it: the lease is gone.
    thief = Wire(str(client.settings.servers[0]))
    try:
        assert thief.ask("r", lock.key, lock.token) == "ok"
    finally:
        thief.close()
    await lock.release()  # returns at once; the refusal comes with the answer
    await eventually(lambda: told == [lock], what="on_lost told of the refused release")
    assert "refused the release" in caplog.text


async def test_release_wait_raises_for_a_refused_release(client):
    lock = client.lock("stolen")
    await lock.acquire()
    thief = Wire(str(client.settings.servers[0]))
    try:
        assert thief.ask("r", lock.key, lock.token) == "ok"
    finally:
        thief.close()
    with pytest.raises(LockLostError, match="refused the release"):
        await lock.release(wait=True)
