"""FIFO, leases, disconnects and the idle timeout, over raw sockets."""

import json
import time

from helpers import Wire


def stats_of(w: Wire) -> dict:
    return json.loads(w.ask("stats")[3:])


def wait_for(check, *, timeout_s=5.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_fifo_with_200_waiters(wire, key):
    holder = wire()
    token = holder.ask("l", key, "0").split()[1]
    waiters = []
    for i in range(200):
        w = wire()
        w.send("l", key, "30")
        waiters.append(w)
        # Queue them in a known order: the next one only after this one is queued.
        wait_for(lambda n=i + 1: _waiting(holder, key) == n, what=f"{i + 1} waiters")
    holder.ask("r", key, token)
    for w in waiters:  # each is granted only after the one before releases
        granted = w.line().split()
        assert granted[0] == "ok"
        assert w.ask("r", key, granted[1]) == "ok"


def _waiting(w, key):
    entry = next((e for e in stats_of(w)["locks"] if e["key"] == key), None)
    return entry["waiters"] if entry else -1


def test_lease_expiry_hands_over(dflock_server_factory, wire):
    server = dflock_server_factory(lease_sweep_interval_s=0.05)
    a, b = wire(server.address), wire(server.address)
    token = a.ask("l", "k", "0 1").split()[1]
    started = time.monotonic()
    status, new_token, _ = b.ask("l", "k", "10").split()
    assert status == "ok"
    assert new_token != token
    assert time.monotonic() - started < 5  # handed over on expiry, not on a timeout
    assert a.ask("n", "k", token) == "error"  # an expired lease cannot be renewed back
    assert a.ask("r", "k", token) == "error"


def test_disconnect_releases_and_withdraws(wire, key):
    a, b, c, observer = wire(), wire(), wire(), wire()
    a.ask("l", key, "0")
    b.send("l", key, "30")
    wait_for(lambda: _waiting(observer, key) == 1, what="b queued")
    assert c.ask("e", key, "") == "queued"
    b.close()  # withdrawn while blocked in `l`, without the server reading from it
    wait_for(lambda: _waiting(observer, key) == 1, what="b withdrawn")
    a.close()  # released: c, the only waiter left, gets it
    assert c.ask("w", key, "5").startswith("ok ")


def test_withdrawn_waiter_never_gets_the_lock(wire, key):
    a, observer = wire(), wire()
    token = a.ask("l", key, "0").split()[1]
    quitter = wire()
    quitter.send("l", key, "30")
    wait_for(lambda: _waiting(observer, key) == 1, what="quitter queued")
    quitter.close()
    wait_for(lambda: _waiting(observer, key) == 0, what="quitter withdrawn")
    a.ask("r", key, token)
    stats = stats_of(observer)
    assert all(e["key"] != key for e in stats["locks"])
    assert any(e["key"] == key for e in stats["idle_locks"])


def test_two_phase_wait_resets_the_lease(dflock_server_factory, wire):
    server = dflock_server_factory(lease_sweep_interval_s=0.05)
    w = wire(server.address)
    assert w.ask("e", "k", "2").startswith("acquired ")
    time.sleep(1.2)  # the scenario: most of the 2 s lease passes before `w`
    assert w.ask("w", "k", "0").startswith("ok ")
    lease = next(e for e in stats_of(w)["locks"] if e["key"] == "k")["lease_expires_in_s"]
    assert lease > 1.5


def test_idle_timeout_closes_and_releases(dflock_server_factory, wire):
    server = dflock_server_factory(read_timeout_s=0.3)
    idle, waiter = wire(server.address), wire(server.address)
    idle.ask("l", "k", "0")
    waiter.send("l", "k", "10")  # blocked in `l`: not idle, and not closed
    assert idle.line() == "error"
    assert idle.closed_by_server()
    assert waiter.line().startswith("ok ")


def test_gc_forgets_idle_keys(dflock_server_factory, wire):
    server = dflock_server_factory(gc_interval_s=0.05, gc_max_idle_s=0.1)
    w = wire(server.address)
    token = w.ask("l", "gc-me", "0").split()[1]
    w.ask("r", "gc-me", token)
    wait_for(
        lambda: not any(e["key"] == "gc-me" for e in stats_of(w)["idle_locks"]),
        what="idle key collected",
    )


def test_release_racing_a_waiters_close_never_grants_to_the_dead(wire, key):
    """Close a blocked waiter and release in the same instant: the lock must end up free."""
    holder, observer = wire(), wire()
    for _ in range(20):
        token = holder.ask("l", key, "0").split()[1]
        quitter = wire()
        quitter.send("l", key, "30")
        wait_for(lambda: _waiting(observer, key) == 1, what="quitter queued")
        quitter.close()
        holder.send("r", key, token)
        assert holder.line() == "ok"
        wait_for(lambda: _waiting(observer, key) == -1, what="lock free, no dead holder")


def test_an_expired_lease_is_gone_at_the_next_acquire_not_the_next_sweep(
    dflock_server_factory, wire
):
    """An acquire evicts the key's expired holders first; the sweep would take a minute here."""
    server = dflock_server_factory(lease_sweep_interval_s=60)
    holder, other = wire(server.address), wire(server.address)
    assert holder.ask("l", "k", "0 1").startswith("ok ")  # a 1 s lease, never renewed
    assert other.ask("l", "k", "0") == "timeout"
    wait_for(lambda: other.ask("l", "k", "0").startswith("ok "), what="the expired lease gone")
