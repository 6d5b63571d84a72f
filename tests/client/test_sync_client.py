"""The sync client's own I/O path: renewal thread, stale connections, two-phase, Ctrl-C."""

import signal
import threading
import time

import pytest

from dflock_integrations import SyncDflockClient
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually_sync

# Every test here runs against the oldest and the newest dflockd generation.
pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def test_long_lease_outlives_idle_limit(dflock_server_factory):
    server = dflock_server_factory(read_timeout_s=0.4)
    with SyncDflockClient(settings_for(server), lease_ttl_s=60) as client:
        with client.lock("long") as lock:
            time.sleep(1.2)  # the scenario: three idle limits while holding
            assert not lock.lost
            assert client.stats().find(lock.key) is not None
        assert not lock.held


def test_stale_pooled_connection_is_replaced(dflock_server_factory):
    server = dflock_server_factory(read_timeout_s=0.3)
    # Misconfigured on purpose: the client thinks the server waits 60 s.
    with SyncDflockClient(settings_for(server, server_read_timeout_s=60)) as client:
        with client.lock("stale"):
            pass
        time.sleep(0.6)  # the scenario: the server closes the idle pooled connection
        with client.lock("stale") as lock:
            assert lock.held


def test_two_phase(dflock_client):
    first, second = dflock_client.lock("phase"), dflock_client.lock("phase")
    assert first.enqueue() is True
    assert second.enqueue() is False
    waiter = threading.Thread(target=lambda: second.wait(5))
    waiter.start()
    first.release()
    waiter.join(timeout=10)
    assert second.held
    second.release()
    assert dflock_client.stats().find(second.key) is None


def test_ctrl_c_while_waiting_leaves_nothing(dflock_client):
    holder = dflock_client.lock("ctrl-c")
    holder.acquire()
    previous = signal.signal(signal.SIGALRM, _interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            dflock_client.lock("ctrl-c", acquire_timeout_s=2).acquire()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Before v1.15 the server notices the closed connection only when the wait ends.
    eventually_sync(lambda: _waiters(dflock_client, holder.key) == 0, what="waiter withdrawn")
    holder.release(wait=True)
    assert dflock_client.stats().find(holder.key) is None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _waiters(client, key):
    entry = client.stats().find(key)
    return entry["waiters"] if entry else -1


def test_release_waits_for_a_renewal_in_flight(dflock_server_factory):
    """Many short leases renewed while they are released: no spurious loss, nothing left."""
    server = dflock_server_factory()
    with SyncDflockClient(settings_for(server, lease_ttl_s=1, renew_ratio=0.05)) as client:
        for _ in range(30):
            with client.lock("churn") as lock:
                time.sleep(0.06)  # about one renewal interval
            assert not lock.lost
        assert client.stats().find(lock.key) is None
