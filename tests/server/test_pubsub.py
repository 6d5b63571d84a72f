"""Signals over raw sockets: patterns, groups, unlisten, pushes between answers, slow consumers."""

import json
import socket
import threading
import time

import pytest


@pytest.mark.parametrize(
    ("pattern", "channel", "hit"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b.>", "x.b.y", True),
        (">", "anything.at.all", True),
        ("a.*.c", "a.b.d", False),
    ],
)
def test_pattern_matching(wire, key, pattern, channel, hit):
    listener, emitter = wire(), wire()
    assert listener.ask("listen", f"{key}.{pattern}" if pattern != ">" else ">") == "ok"
    full = f"{key}.{channel}"
    expected = 1 if hit or pattern == ">" else 0
    assert emitter.ask("signal", full, "p") == f"ok {expected}"
    if expected:
        assert listener.line() == f"sig {full} p"


def test_push_arrives_between_answers(wire, key):
    listener, emitter = wire(), wire()
    listener.ask("listen", f"{key}.>")
    assert emitter.ask("signal", f"{key}.x", '{"a": 1}') == "ok 1"
    # The push was written before our ping's answer, and never inside it.
    listener.send("ping")
    assert listener.line() == f'sig {key}.x {{"a": 1}}'
    assert listener.line() == "ok"


def test_queue_group_round_robin(wire, key):
    members = [wire() for _ in range(3)]
    for m in members:
        assert m.ask("listen", f"{key}.job", "workers") == "ok"
    plain = wire()
    plain.ask("listen", f"{key}.job")
    emitter = wire()
    for i in range(9):
        assert emitter.ask("signal", f"{key}.job", str(i)) == "ok 2"
    got = [[m.line() for _ in range(3)] for m in members]
    assert sorted(line for batch in got for line in batch) == [
        f"sig {key}.job {i}" for i in range(9)
    ]
    assert [plain.line() for _ in range(9)] == [f"sig {key}.job {i}" for i in range(9)]


def test_unlisten(wire, key):
    listener, emitter = wire(), wire()
    listener.ask("listen", f"{key}.>", "g")
    assert listener.ask("unlisten", f"{key}.>") == "ok"  # another group: nothing to remove
    assert emitter.ask("signal", f"{key}.x", "p") == "ok 1"
    assert listener.line() == f"sig {key}.x p"
    assert listener.ask("unlisten", f"{key}.>", "g") == "ok"
    assert emitter.ask("signal", f"{key}.x", "p") == "ok 0"


def test_stats_lists_channels(wire, key):
    listener = wire()
    listener.ask("listen", f"{key}.>", "grp")
    stats = json.loads(wire().ask("stats")[3:])
    assert {"pattern": f"{key}.>", "listeners": 1, "group": "grp"} in stats["signal_channels"]
    listener.close()


def test_slow_consumer_is_dropped_without_stalling(dflock_server_factory, wire):
    server = dflock_server_factory(push_buffer_bytes=64 * 1024)
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"listen\nfeed.>\n\n")  # and never reads again
    healthy, emitter = wire(server.address), wire(server.address)
    assert healthy.ask("listen", "feed.>") == "ok"
    received = []
    reader = threading.Thread(target=_drain, args=(healthy, received), daemon=True)
    reader.start()
    payload = "x" * 16_000
    answers = []
    started = time.monotonic()
    # Enough data to fill the kernel's buffers towards the slow listener, and then some.
    while len(answers) < 5000 and (not answers or answers[-1] != "ok 1"):
        answers.append(emitter.ask("signal", "feed.data", payload))
    assert answers[0] == "ok 2"
    assert answers[-1] == "ok 1", "the slow listener was never dropped"
    assert time.monotonic() - started < 30  # the emitter was never stalled for long
    emitter.ask("signal", "feed.data", "last")
    reader.join(timeout=10)
    assert received[-1] == "sig feed.data last"
    assert len(received) == len(answers) + 1  # the healthy listener lost nothing
    slow.close()


def _drain(w, received):
    while True:
        line = w.line()
        received.append(line if len(line) < 100 else line[:14])
        if line.endswith(" last"):
            return
