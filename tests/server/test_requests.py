"""Every request and its error answers, over raw sockets."""

import json
import re

import pytest

TOKEN = re.compile(r"^[0-9a-f]{32}$")


def test_lock_acquire_renew_release(wire, key):
    w = wire()
    status, token, lease = w.ask("l", key, "5 7").split()
    assert status == "ok"
    assert TOKEN.match(token)
    assert lease == "7"
    assert w.ask("n", key, f"{token} 9") == "ok 9"
    assert w.ask("n", key, token) == "ok 33"  # no TTL: the default lease, as dflockd does
    assert w.ask("r", key, token) == "ok"
    assert w.ask("r", key, token) == "error"
    assert w.ask("n", key, token) == "error"


def test_default_lease_is_33s(wire, key):
    assert wire().ask("l", key, "0").split()[2] == "33"


def test_trylock_answers_timeout_at_once(wire, key):
    a, b = wire(), wire()
    assert a.ask("l", key, "0").startswith("ok ")
    assert b.ask("l", key, "0") == "timeout"


def test_fences_strictly_increase_across_keys(wire, key):
    w = wire()
    fences = []
    for i in range(20):
        token = w.ask("l", f"{key}-{i % 3}", "0").split()[1]
        fences.append(int(token[:16], 16))
        assert w.ask("r", f"{key}-{i % 3}", token) == "ok"
    assert fences == sorted(set(fences))


def test_wrong_token_and_unknown_key(wire, key):
    w = wire()
    w.ask("l", key, "0")
    assert w.ask("r", key, "0" * 32) == "error"
    assert w.ask("n", key, "0" * 32) == "error"
    assert w.ask("r", f"{key}-none", "0" * 32) == "error"


@pytest.mark.parametrize(
    ("cmd", "key_line", "arg"),
    [
        ("bogus", "k", ""),
        ("l", "", "1"),
        ("l", "a b", "1"),
        ("l", "k", "x"),
        ("l", "k", "-1"),
        ("l", "k", "1 0"),
        ("l", "k", "1 2 3"),
        ("sl", "k", "1"),
        ("sl", "k", "1 0"),
        ("e", "k", "0"),
        ("w", "k", ""),
        ("n", "k", ""),
        ("listen", "a..b", ""),
        ("listen", "a.>.b", ""),
        ("signal", "a.*", "x"),
        ("signal", "a", "   "),
    ],
)
def test_parse_errors_answer_error_and_keep_the_connection(wire, cmd, key_line, arg):
    w = wire()
    assert w.ask(cmd, key_line, arg) == "error"
    assert w.ask("ping") == "ok"


def test_ping_and_stats_shape(wire, key):
    w = wire()
    assert w.ask("ping") == "ok"
    w.ask("l", key, "0")
    w.ask("sl", f"{key}-s", "0 3")
    answer = w.ask("stats", "_", "_")
    assert answer.startswith("ok ")
    stats = json.loads(answer[3:])
    assert set(stats) >= {
        "connections",
        "locks",
        "semaphores",
        "idle_locks",
        "idle_semaphores",
        "signal_channels",
    }
    lock = next(e for e in stats["locks"] if e["key"] == key)
    assert set(lock) == {"key", "owner_conn_id", "lease_expires_in_s", "waiters"}
    sem = next(e for e in stats["semaphores"] if e["key"] == f"{key}-s")
    assert sem == {"key": f"{key}-s", "limit": 3, "holders": 1, "waiters": 0}


def test_semaphore_limit_and_mismatch(wire, key):
    holders = [wire() for _ in range(3)]
    for w in holders:
        assert w.ask("sl", key, "0 3").startswith("ok ")
    assert wire().ask("sl", key, "0 3") == "timeout"
    assert wire().ask("sl", key, "0 4") == "error_limit_mismatch"
    assert wire().ask("l", key, "0") == "error_limit_mismatch"
    other = wire()
    other.ask("l", f"{key}-lock", "0")
    assert wire().ask("sl", f"{key}-lock", "0 3") == "error_limit_mismatch"


def test_semaphore_renew_and_release(wire, key):
    w = wire()
    token = w.ask("sl", key, "0 2 5").split()[1]
    assert w.ask("sn", key, f"{token} 5") == "ok 5"
    assert w.ask("sn", key, token) == "ok 33"  # no TTL: the default lease
    assert w.ask("sr", key, token) == "ok"


def test_two_phase(wire, key):
    a, b = wire(), wire()
    status, token, _ = a.ask("e", key, "").split()
    assert status == "acquired"
    assert a.ask("e", key, "") == "error_already_enqueued"
    assert a.ask("w", key, "0").startswith(f"ok {token}")
    assert b.ask("e", key, "10") == "queued"
    assert b.ask("w", key, "0") == "timeout"
    assert b.ask("w", key, "0") == "error_not_enqueued"
    assert b.ask("e", key, "10") == "queued"
    b.send("w", key, "5")
    assert a.ask("r", key, token) == "ok"
    status, _, lease = b.line().split()
    assert (status, lease) == ("ok", "10")


def test_wait_without_enqueue(wire, key):
    assert wire().ask("w", key, "1") == "error_not_enqueued"


def test_semaphore_two_phase(wire, key):
    a, b = wire(), wire()
    assert a.ask("se", key, "1").startswith("acquired ")
    assert b.ask("se", key, "1") == "queued"
    assert b.ask("sw", key, "0") == "timeout"


def test_max_locks_and_waiters(dflock_server_factory, wire):
    server = dflock_server_factory(max_locks=2, max_waiters=1)
    w = wire(server.address)
    assert w.ask("l", "a", "0").startswith("ok ")
    assert w.ask("l", "b", "0").startswith("ok ")
    assert w.ask("l", "c", "0") == "error_max_locks"
    wire(server.address).send("l", "a", "30")
    assert _eventually_waiters(w, "a", 1)
    assert wire(server.address).ask("l", "a", "30") == "error_max_waiters"
    assert wire(server.address).ask("e", "a", "") == "error_max_waiters"


def _eventually_waiters(w, key, count, attempts=500):
    for _ in range(attempts):
        stats = json.loads(w.ask("stats")[3:])
        if any(e["key"] == key and e["waiters"] == count for e in stats["locks"]):
            return True
    return False


def test_max_connections(dflock_server_factory, wire):
    server = dflock_server_factory(max_connections=1)
    # The start-up probe's connection may still be closing: wait until a slot is free.
    for _ in range(200):
        first = wire(server.address)
        try:
            if first.ask("ping") == "ok":
                break
        except (ConnectionError, OSError):
            continue
    else:
        pytest.fail("no connection slot became free")
    second = wire(server.address)
    with pytest.raises((ConnectionError, OSError)):
        second.ask("ping")


def test_max_subscriptions(dflock_server_factory, wire):
    server = dflock_server_factory(max_subscriptions=1)
    w = wire(server.address)
    assert w.ask("listen", "a.>") == "ok"
    assert w.ask("listen", "b.>") == "error"
    assert w.ask("listen", "a.>") == "error"  # the same subscription twice


def test_over_long_lines_close(wire):
    w = wire()
    w.send("l", "k" * 300, "1")
    assert w.line() == "error"
    assert w.closed_by_server()


def test_big_lines_allowed_for_signal_payload_and_auth(wire):
    w = wire()
    assert w.ask("signal", "big.one", "x" * 60_000) == "ok 0"
    assert w.ask("auth", "_", "t" * 1000) == "ok"  # no token configured: accepted
    w.send("signal", "big.one", "x" * 70_000)
    assert w.line() == "error"
    assert w.closed_by_server()


def test_crlf_is_accepted(wire, key):
    w = wire()
    w.sock.sendall(f"l\r\n{key}\r\n0\r\n".encode())
    assert w.line().startswith("ok ")
