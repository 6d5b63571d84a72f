"""The official dflockd-client, an independent peer, against the embedded server."""

import asyncio

import pytest

from dflock_integrations import SyncDflockClient
from dflock_integrations.testing.pytest_plugin import settings_for

# The official client needs Python 3.12; on older Pythons these tests skip.
dflockd_client = pytest.importorskip("dflockd_client")
low = pytest.importorskip("dflockd_client._sync")


def servers(server):
    return [("127.0.0.1", server.port)]


def test_sync_lock_round_trip(dflock_server, key):
    lock = dflockd_client.SyncDistributedLock(key, servers=servers(dflock_server))
    with lock:
        assert lock.token is not None
        assert dflockd_client.fence_from_token(lock.token) > 0
        other = dflockd_client.SyncDistributedLock(
            key, servers=servers(dflock_server), acquire_timeout_s=0
        )
        assert other.acquire() is False


async def test_async_lock_and_semaphore(dflock_server, key):
    async with dflockd_client.AsyncDistributedLock(key, servers=servers(dflock_server)) as lock:
        assert lock.token
    sem = dflockd_client.AsyncDistributedSemaphore(
        f"{key}-s", servers=servers(dflock_server), limit=2
    )
    async with sem:
        assert sem.token


def test_semaphore_and_two_phase(dflock_server, key):
    first = dflockd_client.SyncDistributedSemaphore(key, servers=servers(dflock_server), limit=1)
    assert first.enqueue() == "acquired"
    second = dflockd_client.SyncDistributedSemaphore(key, servers=servers(dflock_server), limit=1)
    assert second.enqueue() == "queued"
    first.release()
    assert second.wait(5) is True
    second.release()


def test_low_level_stats_renew_and_errors(dflock_server, key):
    conn = low.open_conn("127.0.0.1", dflock_server.port, ssl_context=None, connect_timeout_s=2)
    try:
        token, lease = low.acquire(conn, key, 0, 5)
        assert lease == 5
        assert low.renew(conn, key, token, 8) == 8
        stats = low.stats(conn)
        assert any(e["key"] == key for e in stats["locks"])
        low.acquire(conn, f"{key}-s", 0, prefix="s", limit=3)
        with pytest.raises(dflockd_client.LimitMismatchError):
            low.acquire(conn, f"{key}-s", 0, prefix="s", limit=2)
        low.release(conn, key, token)
        with pytest.raises(dflockd_client.DflockdError):
            low.release(conn, key, token)
    finally:
        conn.close()


def test_auth_round_trip(dflock_server_factory):
    server = dflock_server_factory(auth_token="peer-token")
    ok = dflockd_client.SyncDistributedLock("k", servers=servers(server), auth_token="peer-token")
    with ok:
        assert ok.token
    bad = dflockd_client.SyncDistributedLock("k", servers=servers(server), auth_token="nope")
    with pytest.raises(PermissionError):
        bad.acquire()


def test_lease_renewed_by_peer(dflock_server_factory):
    server = dflock_server_factory(lease_sweep_interval_s=0.05)

    async def hold():
        # dflockd-client renews no sooner than every second, so give it a 2 s lease.
        lock = dflockd_client.AsyncDistributedLock("k", servers=servers(server), lease_ttl_s=2)
        async with lock:
            await asyncio.sleep(4.5)  # the scenario: longer than two leases
            assert lock.token is not None

    asyncio.run(hold())


def test_its_locks_and_ours_exclude_each_other(dflock_server, key):
    with SyncDflockClient(settings_for(dflock_server)) as ours:
        theirs = dflockd_client.SyncDistributedLock(
            key, servers=servers(dflock_server), acquire_timeout_s=0
        )
        with ours.lock(key):
            assert theirs.acquire() is False
        with theirs:
            assert ours.lock(key).acquire(0) is False


@pytest.fixture
def two_servers(dflock_server_factory):
    return dflock_server_factory(), dflock_server_factory()


def test_keys_are_sharded_like_dflockd_client(two_servers):
    servers = [("127.0.0.1", s.port) for s in two_servers]
    settings = settings_for(two_servers[0], servers=[f"{h}:{p}" for h, p in servers])
    with SyncDflockClient(settings) as client:
        for key in (f"shard-{i}" for i in range(20)):
            with client.lock(key) as ours:
                peer = dflockd_client.SyncDistributedLock(
                    key, servers=servers, acquire_timeout_s=0, connect_timeout_s=2
                )
                assert peer.acquire() is False, f"{key}: both clients got it"
                index = dflockd_client.stable_hash_shard(key, len(servers))
                assert ours.server == f"127.0.0.1:{servers[index][1]}"
        stats = client.stats()
        assert set(stats.connections) == {f"127.0.0.1:{p}" for _, p in servers}
