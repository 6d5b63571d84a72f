"""Servers that stop, restart, time connections out, demand auth or speak TLS."""

import asyncio
import socket
import time

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    AuthenticationError,
    LockLostError,
    ServerUnavailable,
)
from dflock_integrations.server import run_in_thread
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually

# Every test here runs against the oldest and the newest dflockd generation.
pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_server_down_at_acquire():
    client = AsyncDflockClient(servers=f"127.0.0.1:{_closed_port()}", connect_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1:\d+") as info:
        await client.lock("k").acquire()
    assert isinstance(info.value, ConnectionError)
    assert time.monotonic() - started < 1.5  # within the connect timeout, with slack


async def test_idle_pooled_connection_older_than_read_timeout(dflock_server_factory):
    server = dflock_server_factory(read_timeout_s=0.3)
    async with AsyncDflockClient(settings_for(server)) as client:
        async with client.lock("idle"):
            pass
        pooled = next(iter(client._pools.values()))
        assert pooled.idle_count == 1
        # The scenario itself: stay idle past the server's limit, so it drops the connection.
        await asyncio.sleep(0.6)
        async with client.lock("idle") as lock:
            assert lock.held


async def test_long_lease_outlives_idle_limit(dflock_server_factory):
    """lease_ttl_s far above the server's idle limit: renewals keep the connection alive."""
    server = dflock_server_factory(read_timeout_s=0.4)
    async with (
        AsyncDflockClient(settings_for(server), lease_ttl_s=60) as client,
        client.lock("long") as lock,
    ):
        await asyncio.sleep(1.2)  # the scenario: three idle limits while holding
        assert not lock.lost
        assert (await client.stats()).find(lock.key) is not None


async def test_restart_while_held_is_detected(dflock_server_factory):
    server = dflock_server_factory()
    port = server.port
    settings = settings_for(server, lease_ttl_s=2, renew_ratio=0.5)
    async with AsyncDflockClient(settings) as client:
        lock = client.lock("job")
        await lock.acquire()
        lost = asyncio.Event()
        lock.on_lost(lambda _handle: lost.set())
        server.stop()
        with run_in_thread(port=port):
            # One renewal interval is 1 s here; allow generous slack for a loaded machine.
            await asyncio.wait_for(lost.wait(), timeout=5)
            assert lock.lost
            with pytest.raises(LockLostError, match="job"):
                await lock.release()
            # The client recovers on the new server.
            async with client.lock("job") as again:
                assert again.held


async def test_loss_raises_when_leaving_with_block(dflock_server_factory):
    server = dflock_server_factory()
    async with AsyncDflockClient(settings_for(server, lease_ttl_s=1)) as client:
        lock = client.lock("w")
        await lock.__aenter__()
        server.stop()
        await eventually(lambda: lock.lost, what="loss detected")
        with pytest.raises(LockLostError):
            await lock.__aexit__(None, None, None)


async def test_auth(dflock_server_factory):
    server = dflock_server_factory(auth_token="s3cret-token")
    async with AsyncDflockClient(settings_for(server)) as client, client.lock("a") as lock:
        assert lock.held
    bad = AsyncDflockClient(settings_for(server, auth_token="wrong-guess"))
    with pytest.raises(AuthenticationError) as info:
        await bad.lock("a").acquire()
    assert "wrong-guess" not in str(info.value)
    assert "s3cret" not in str(info.value)
    none = AsyncDflockClient(settings_for(server, auth_token=None))
    with pytest.raises((ServerUnavailable, AuthenticationError)):
        await none.lock("a").acquire()


async def test_tls(dflock_server_factory, dflock_tls_files):
    files = dflock_tls_files
    server = dflock_server_factory(tls_cert=str(files.server_cert), tls_key=str(files.server_key))
    settings = settings_for(server, tls=True, tls_ca_file=files.ca_file)
    async with AsyncDflockClient(settings) as client:
        async with client.lock("secure") as lock:
            assert lock.held
        assert (await client.stats()).find(lock.key) is None
    untrusted = AsyncDflockClient(settings_for(server, tls=True))
    with pytest.raises(ServerUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        await untrusted.lock("secure").acquire()


async def test_tls_with_auth(dflock_server_factory, dflock_tls_files):
    files = dflock_tls_files
    server = dflock_server_factory(
        tls_cert=str(files.server_cert), tls_key=str(files.server_key), auth_token="tok"
    )
    settings = settings_for(server, tls=True, tls_ca_file=files.ca_file)
    async with AsyncDflockClient(settings) as client, client.semaphore("s", limit=2) as slot:
        assert slot.held


async def test_release_waits_for_a_renewal_in_flight(dflock_server_factory):
    """Short leases renewed while they are released: no spurious loss, nothing left held."""
    server = dflock_server_factory()
    settings = settings_for(server, lease_ttl_s=1, renew_ratio=0.05)
    async with AsyncDflockClient(settings) as client:
        for _ in range(30):
            async with client.lock("churn") as lock:
                await asyncio.sleep(0.06)  # about one renewal interval
            assert not lock.lost
        pool = next(iter(client._pools.values()))
        assert pool.idle_count == 1  # the same connection served every cycle
        assert (await client.stats()).find(lock.key) is None
