"""A cluster's members (`DFLOCK_TOPOLOGY=cluster`) and servers that shut down (draining).

The embedded server answers as a follower (`follower_of=`) or a leader
(`compat="cluster"`); the client must find the leader, within three redirects.
"""

from __future__ import annotations

import signal
import socket
import time

import pytest

from dflock_integrations import AsyncDflockClient, ServerUnavailable, SyncDflockClient
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually


def refuses_connections(server) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.fixture
def cluster(dflock_server_factory):
    """A leader and a follower that names it; the follower is listed first."""
    leader = dflock_server_factory(compat="cluster")
    follower = dflock_server_factory(compat="cluster", follower_of=leader.address)
    return leader, follower


def cluster_settings(*members, **overrides):
    settings = settings_for(members[0], topology="cluster", **overrides)
    return settings.replace(servers=[m.address for m in members])


async def test_a_follower_sends_us_to_the_leader(cluster):
    leader, follower = cluster
    async with AsyncDflockClient(cluster_settings(follower, leader)) as client:
        async with client.lock("job") as lock:
            assert lock.server == leader.address
            assert (await client.stats()).find(lock.key)["server"] == leader.address
        await client.ping()
        # Once found, the leader is asked first: no redirect on the next grant.
        assert client._router.home(lock.key) == client.settings.servers[1]


def test_the_sync_client_follows_too(cluster):
    leader, follower = cluster
    with SyncDflockClient(cluster_settings(follower, leader)) as client:
        with client.semaphore("pool", limit=2) as slot:
            assert slot.server == leader.address
        assert client.lock("pool-lock").acquire(0)


async def test_a_leader_outside_the_members_is_not_followed(dflock_server_factory):
    leader = dflock_server_factory(compat="cluster")
    stranger = dflock_server_factory(compat="cluster", follower_of="192.0.2.1:6388")
    async with (
        AsyncDflockClient(cluster_settings(stranger, leader)) as client,
        client.lock("job") as lock,  # the next member instead
    ):
        assert lock.server == leader.address


async def test_no_leader_found_after_three_redirects(dflock_server_factory):
    lost = [dflock_server_factory(compat="cluster", follower_of="") for _ in range(2)]
    async with AsyncDflockClient(cluster_settings(*lost, connect_timeout_s=2)) as client:
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match="no dflockd leader found after 3 redirects"):
            await client.lock("job").acquire(0)
        assert time.monotonic() - started < 2  # within the call's deadline
        stats = await client.stats()  # any member answers stats
        assert stats.find("job") is None


async def test_a_draining_shard_is_waited_for_then_reported(dflock_server_process):
    server = dflock_server_process("--shutdown-timeout", "10", compat="1.16")
    async with AsyncDflockClient(settings_for(server, connect_timeout_s=1)) as client:
        async with client.lock("warm"):
            pass  # a pooled connection now exists
        server.signal(signal.SIGTERM)
        await eventually(lambda: refuses_connections(server), what="the server draining")
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match=r"shutting down|cannot connect"):
            await client.lock("job").acquire(0)
        assert time.monotonic() - started < 1.5


async def test_a_draining_member_is_left_for_another(dflock_server_process, dflock_server_factory):
    draining = dflock_server_process("--shutdown-timeout", "10", compat="cluster")
    leader = dflock_server_factory(compat="cluster")
    async with AsyncDflockClient(cluster_settings(draining, leader)) as client:
        async with client.lock("warm") as lock:
            assert lock.server == draining.address  # the first member, while it leads
        draining.signal(signal.SIGTERM)
        await eventually(lambda: refuses_connections(draining), what="the member draining")
        async with client.lock("job", acquire_timeout_s=0) as lock:
            assert lock.server == leader.address
