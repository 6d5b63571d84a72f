"""The sync twin, several servers, and agreement with the official dflockd-client."""

import logging
import os
import select
import signal
import threading
import time

import pytest

from dflock_integrations import LockLostError, LockTimeout, SyncDflockClient
from dflock_integrations.client._sync._keeper import ATTACH_AFTER_S
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually_sync

# Every test here runs against the oldest and the newest dflockd generation.
pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def test_sync_lock_and_semaphore(dflock_client, dflock_compat):
    with dflock_client.lock("sync") as lock:
        assert lock.held
        assert (lock.fence is None) is (dflock_compat == "1.10")
        assert dflock_client.stats().find(lock.key) is not None
        with pytest.raises(LockTimeout):
            dflock_client.lock("sync", acquire_timeout_s=0).__enter__()
    assert dflock_client.stats().find(lock.key) is None
    with dflock_client.semaphore("sync-sem", limit=2) as slot:
        assert slot.held


def test_sync_threads_never_overlap(dflock_client):
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker():
        nonlocal inside, overlaps
        for _ in range(5):
            with dflock_client.lock("threads", acquire_timeout_s=30):
                with guard:
                    inside += 1
                    overlaps += inside > 1
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert overlaps == 0


@pytest.mark.dflock_compat("1.16")
def test_sync_signals(dflock_client):
    with dflock_client.listen("s.>") as sub:
        assert dflock_client.emit("s.one", {"n": 1}) == 1
        got = sub.get(timeout_s=5)
        assert got is not None
        assert got.json() == {"n": 1}


def test_sync_loss(dflock_server_factory):
    server = dflock_server_factory()
    with SyncDflockClient(settings_for(server, lease_ttl_s=1)) as client:
        lost = threading.Event()
        lock = client.lock("gone").__enter__()
        lock.on_lost(lambda _h: lost.set())
        server.stop()
        assert lost.wait(timeout=5)
        with pytest.raises(LockLostError):
            lock.__exit__(None, None, None)


def test_closing_with_a_lease_held_leaves_no_error_behind(dflock_settings, caplog):
    # The keeper's loop ticks every 50 ms while a lease is young; closing between two
    # ticks once made the next one fail (an "Exception in callback" on the loop).
    for n in range(20):
        client = SyncDflockClient(dflock_settings)
        client.lock(f"closing:{n}").__enter__()  # held on: the lease expires on the server
        time.sleep(n * ATTACH_AFTER_S / 20)  # before, at and after the first ticks
        client.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_gets_its_own_connections(dflock_client):
    with dflock_client.lock("parent"):
        pass
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Celery prefork worker does exactly this
        code = 1
        try:
            with dflock_client.lock("child") as lock:
                code = 0 if lock.held else 1
        finally:
            os.write(write_end, bytes([code]))
            os._exit(0)
    os.close(write_end)
    result = os.read(read_end, 1)
    os.waitpid(pid, 0)
    assert result == b"\x00"
    with dflock_client.lock("parent") as lock:  # the parent's pool still works
        assert lock.held


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_while_another_thread_holds_the_clients_guard_does_not_hang_the_child(
    dflock_settings,
):
    """A Celery worker forks replacement children while its own threads use the client."""
    client = SyncDflockClient(dflock_settings)
    holding, done = threading.Event(), threading.Event()

    def hold_the_guard():
        client.lock("warm-up").acquire()  # starts the keeper, whose lock is held next
        with client._keeper._guard, client._fencing._guard:
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=hold_the_guard)
    thread.start()
    try:
        assert holding.wait(5)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with client.lock("after-fork") as lock:
                    code = 0 if lock.held else 1
            finally:
                os.write(write_end, bytes([code]))
                os._exit(0)
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], 10)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert ready, "the child hung on a lock a parent thread held at the fork"
        assert os.read(read_end, 1) == b"\x00"
    finally:
        done.set()
        thread.join()
        client.close()


@pytest.fixture
def two_servers(dflock_server_factory):
    return dflock_server_factory(), dflock_server_factory()


def test_stats_names_an_unreachable_server(two_servers):
    a, b = two_servers
    settings = settings_for(a, servers=[a.address, b.address])
    with SyncDflockClient(settings) as client:
        client.ping()
        b.stop()
        eventually_sync(lambda: _unreachable(client, b.address), what="dead server reported")


def _unreachable(client, address):
    return address in client.stats(tolerate_unreachable=True).unreachable
