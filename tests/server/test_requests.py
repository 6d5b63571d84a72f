"""Requests of the embedded server's own (default) profile, beyond the generation scenarios.

`test_generations.py` holds what every dflockd generation answers; this module keeps
what only the default profile has (signals with 64 KiB lines) and the server's limits.
"""

import pytest


@pytest.mark.parametrize(
    ("cmd", "key_line", "arg"),
    [
        ("listen", "a.>.b", ""),
        ("listen", "a.b*", ""),
        ("listen", "a b", ""),
        ("unlisten", "a.>.b", ""),
        ("signal", "a.*", "x"),
        ("signal", "a.>", "x"),
        ("signal", "a", "   "),
    ],
)
def test_signal_parse_errors_answer_error_and_keep_the_connection(wire, cmd, key_line, arg):
    w = wire()
    assert w.ask(cmd, key_line, arg) == "error"
    assert w.ask("ping") == "ok"


def test_empty_channel_tokens_are_allowed_as_upstream_allows_them(wire, key):
    listener, emitter = wire(), wire()
    assert listener.ask("listen", f"{key}..x") == "ok"
    assert emitter.ask("signal", f"{key}..x", "p") == "ok 1"


def test_semaphore_two_phase(wire, key):
    a, b = wire(), wire()
    assert a.ask("se", key, "1").startswith("acquired ")
    assert b.ask("se", key, "1") == "queued"
    assert b.ask("sw", key, "0") == "timeout"
    assert a.ask("sn", key, "0" * 32) == "error"


def test_two_phase_enqueue_refused_when_the_queue_is_full(dflock_server_factory, wire):
    server = dflock_server_factory(max_waiters=1)
    holder, first, second = (wire(server.address) for _ in range(3))
    assert holder.ask("l", "a", "0").startswith("ok ")
    assert first.ask("e", "a", "") == "queued"
    assert second.ask("e", "a", "") == "error_max_waiters"


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
        second.ask("ping")  # closed without an answer, as dflockd does


def test_max_subscriptions(dflock_server_factory, wire):
    server = dflock_server_factory(max_subscriptions=1)
    w = wire(server.address)
    assert w.ask("listen", "a.>") == "ok"
    assert w.ask("listen", "a.>") == "ok"  # the same subscription again: ignored
    assert w.ask("listen", "b.>") == "error"


def test_big_lines_for_signal_payloads_and_auth_tokens(wire):
    w = wire()
    assert w.ask("signal", "big.one", "x" * 60_000) == "ok 0"
    # Without a server token `auth` is an unknown request, whatever its length.
    assert w.ask("auth", "_", "t" * 1000) == "error"
    w.send("signal", "big.one", "x" * 70_000)
    assert w.line() == "error"
    assert w.closed_by_server()


def test_before_1_15_signal_payloads_are_ordinary_lines(dflock_server_factory, wire):
    server = dflock_server_factory(compat="1.14")
    w = wire(server.address)
    assert w.ask("signal", "small.one", "x" * 200) == "ok 0"
    w.send("signal", "big.one", "x" * 300)
    assert w.line() == "error"
    assert w.closed_by_server()


def test_too_much_behind_a_blocked_request_closes_the_connection(wire, key):
    holder, greedy = wire(), wire()
    assert holder.ask("l", key, "0").startswith("ok ")
    greedy.send("l", key, "30")
    greedy.sock.sendall(b"ping\n_\n\n" * 600)  # 6 KB queued behind the blocked `l`
    assert greedy.closed_by_server()
