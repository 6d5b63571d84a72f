"""Wire scenarios, answered as each dflockd generation answers them.

Every scenario runs against `dflock serve --compat X` in a child process. Where a
real upstream binary is at hand, name it and the same scenarios run against it too:

    DFLOCK_TEST_UPSTREAM="1.10=/path/to/dflockd" pytest tests/server/test_generations.py

CI has no upstream binary (it cannot be fetched there), so there only the embedded
profiles run; the upstream runs are how those profiles were checked.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from dflock_integrations.server import Profile, ServerProcess

from helpers import Wire

TOKEN = re.compile(r"[0-9a-f]{32}")
GRANT = re.compile(r"ok ([0-9a-f]{32}) (\d+)")


def _upstream_binaries() -> dict[str, str]:
    found = {}
    for item in filter(None, os.environ.get("DFLOCK_TEST_UPSTREAM", "").split(",")):
        generation, _, path = item.partition("=")
        found[generation.strip()] = path.strip()
    return found


UPSTREAM = [("upstream", g) for g in _upstream_binaries()]
# What differs between generations runs on each; what they share, on the oldest and newest.
EVERY_GENERATION = [("embedded", g) for g in ("1.10", "1.16", "2.0", "2.1", "default")] + UPSTREAM
SHARED = [("embedded", "1.10"), ("embedded", "default"), *UPSTREAM]
differs = pytest.mark.every_generation


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = (
            EVERY_GENERATION
            if metafunc.definition.get_closest_marker("every_generation")
            else SHARED
        )
        ids = [f"{kind}-{generation}" for kind, generation in targets]
        metafunc.parametrize("target_module", targets, ids=ids, indirect=True, scope="module")


class Target:
    """One server implementation at one generation; servers are cached per flag set."""

    def __init__(self, kind: str, generation: str) -> None:
        self.kind = kind
        self.profile = Profile.named(generation)
        self._servers: dict[tuple[str, ...], ServerProcess] = {}
        self._wires: list[Wire] = []
        self._fresh: list[ServerProcess] = []

    def server(self, *flags: str) -> ServerProcess:
        if flags not in self._servers:
            command = _upstream_binaries()[self.profile.name] if self.kind == "upstream" else None
            self._servers[flags] = ServerProcess(
                compat=self.profile.name, flags=flags, command=command
            )
        return self._servers[flags]

    def wire(self, *flags: str, timeout: float = 5.0) -> Wire:
        connection = Wire(self.server(*flags).address, timeout=timeout)
        self._wires.append(connection)
        return connection

    def fresh_server(self, *flags: str) -> ServerProcess:
        """A server of this target's own, for a scenario that ends it."""
        command = _upstream_binaries()[self.profile.name] if self.kind == "upstream" else None
        server = ServerProcess(compat=self.profile.name, flags=flags, command=command)
        self._fresh.append(server)
        return server

    def close_wires(self) -> None:
        for connection in self._wires:
            connection.close()
        self._wires.clear()

    def stop(self) -> None:
        self.close_wires()
        for server in [*self._servers.values(), *self._fresh]:
            server.stop()


@pytest.fixture(scope="module")
def target_module(request) -> Iterator[Target]:
    target = Target(*request.param)
    yield target
    target.stop()


@pytest.fixture
def target(target_module: Target) -> Iterator[Target]:
    yield target_module
    target_module.close_wires()


@pytest.fixture
def key(request) -> str:
    return "k" + str(abs(hash(request.node.nodeid)))


def stats(w: Wire) -> dict:
    answer = w.ask("stats")
    assert answer.startswith("ok {"), answer
    return json.loads(answer[3:])


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- what differs between generations ----------------------------------------------------


@differs
def test_ping(target: Target) -> None:
    w = target.wire()
    assert w.ask("ping", "_", "_") == ("ok" if target.profile.ping else "error")
    assert w.ask("stats").startswith("ok {")  # an unknown command keeps the connection


@differs
def test_tokens_are_fences_only_from_2_1(target: Target, key: str) -> None:
    w = target.wire()
    fences = []
    for _ in range(30):
        token = GRANT.fullmatch(w.ask("l", key, "0")).group(1)
        fences.append(int(token[:16], 16))
        assert w.ask("r", key, token) == "ok"
    rising = all(a < b for a, b in itertools.pairwise(fences))
    if target.profile.fencing_tokens:
        assert rising
        assert fences[0] > 1_600_000_000 * 10**9  # seeded from the wall clock in ns
    else:
        assert not rising  # random: 29 rises in a row happen once in 30! tries


@differs
def test_signals_where_the_generation_has_them(target: Target) -> None:
    listener, emitter = target.wire(), target.wire()
    if not target.profile.signals:
        assert listener.ask("listen", "ev.>", "") == "error"
        assert emitter.ask("signal", "ev.a", "hello") == "error"
        assert "signal_channels" not in stats(emitter)
        return
    assert listener.ask("listen", "ev.>", "") == "ok"
    assert listener.ask("listen", "ev.*", "") == "ok"
    assert listener.ask("listen", "ev.>", "") == "ok"  # a repeat is ignored
    assert emitter.ask("signal", "ev.a", "hello world") == "ok 1"  # once per connection
    assert listener.line() == "sig ev.a hello world"
    channels = stats(emitter)["signal_channels"]
    assert sorted(c["pattern"] for c in channels) == ["ev.*", "ev.>"]
    assert listener.ask("unlisten", "nothing.here", "") == "ok"


@differs
def test_lock_and_semaphore_keys(target: Target, key: str) -> None:
    w = target.wire()
    assert GRANT.fullmatch(w.ask("sl", key, "0 3"))
    shared = not target.profile.separate_lock_and_semaphore_keys
    answer = w.ask("l", key, "0")
    if shared:
        assert answer == "error_limit_mismatch"
    else:
        assert GRANT.fullmatch(answer)


@differs
def test_auth_without_a_server_token_is_an_unknown_request(target: Target) -> None:
    w = target.wire()
    assert w.ask("auth", "_", "anything") == "error"
    assert w.ask("stats").startswith("ok {")


@differs
def test_blocked_acquire_and_a_client_that_leaves(target: Target, key: str) -> None:
    holder, observer = target.wire(), target.wire()
    token = GRANT.fullmatch(holder.ask("l", key, "0")).group(1)
    waiter = target.wire()
    waiter.send("l", key, "30")
    wait_for(lambda: _lock(observer, key).get("waiters") == 1, "the waiter to queue")
    waiter.close()
    if target.profile.notices_close_while_blocked:
        wait_for(lambda: _lock(observer, key).get("waiters") == 0, "the waiter withdrawn")
    else:
        # Nobody reads the connection while `l` blocks: the waiter stays queued.
        time.sleep(0.3)  # nothing to wait for: this checks that nothing happens
        assert _lock(observer, key)["waiters"] == 1
    # Either way, releasing never leaves the key held by the departed client.
    assert holder.ask("r", key, token) == "ok"
    wait_for(lambda: not _lock(observer, key), "the key to be free")


@differs
def test_shutdown_ends_blocked_requests_and_drains_from_1_16(target: Target, key: str) -> None:
    server = target.fresh_server("--shutdown-timeout", "10")
    holder, blocked, idle = (Wire(server.address) for _ in range(3))
    try:
        assert GRANT.fullmatch(holder.ask("l", key, "0"))
        blocked.send("l", key, "30")
        wait_for(lambda: _lock(idle, key).get("waiters") == 1, "the waiter to queue")
        server.signal(signal.SIGTERM)
        assert blocked.line() == "error"  # a blocked request ends at once
        answer = idle.ask("stats")
        if target.profile.drains:
            assert answer == "error_draining"
            assert idle.closed_by_server()
        else:
            assert answer.startswith("ok {")  # served until the shutdown timeout
    finally:
        for connection in (holder, blocked, idle):
            connection.close()
    server.wait(timeout_s=15)


def _lock(w: Wire, key: str) -> dict:
    return next((e for e in stats(w)["locks"] if e["key"] == key), {})


# -- what every generation shares ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "key_line", "arg"),
    [
        ("bogus", "k", ""),
        ("l", "", "1"),
        ("l", "a b", "1"),
        ("l", "a\tb", "1"),
        ("l", "k", ""),
        ("l", "k", "x"),
        ("l", "k", "-1"),
        ("l", "k", "1 0"),
        ("l", "k", "1 -5"),
        ("l", "k", "1 2 3"),
        ("sl", "k", "1"),
        ("sl", "k", "1 0"),
        ("sl", "k", "1 2 3 4"),
        ("e", "k", "0"),
        ("e", "k", "30 junk"),
        ("se", "k", ""),
        ("w", "k", ""),
        ("w", "k", "-1"),
        ("n", "k", ""),
        ("n", "k", "tok 0"),
        ("r", "k", ""),
        ("r", "", "tok"),
    ],
)
def test_parse_errors_answer_error_and_keep_the_connection(target, cmd, key_line, arg):
    w = target.wire()
    assert w.ask(cmd, key_line, arg) == "error"
    assert w.ask("stats").startswith("ok {")


def test_numbers_as_go_reads_them(target: Target, key: str) -> None:
    w = target.wire()
    assert GRANT.fullmatch(w.ask("l", key, "+0 +7"))  # strconv.Atoi takes a sign
    assert w.ask("l", f"{key}é", "0 7").split()[2] == "7"  # keys are any non-space bytes


def test_lock_cycle_answers(target: Target, key: str) -> None:
    a, b = target.wire(), target.wire()
    token, lease = GRANT.fullmatch(a.ask("l", key, "0")).groups()
    assert lease == "33"  # the default lease
    assert b.ask("l", key, "0") == "timeout"
    assert a.ask("n", key, token) == "ok 33"  # renew without a TTL: the default again
    assert a.ask("n", key, f"{token} 9") == "ok 9"
    assert a.ask("r", key, "0" * 32) == "error"
    assert b.ask("r", key, token) == "ok"  # any connection may release with the token
    assert a.ask("r", key, token) == "error"
    assert a.ask("n", key, token) == "error"
    assert a.ask("r", f"{key}-none", token) == "error"


def test_semaphore_answers(target: Target, key: str) -> None:
    w = target.wire()
    tokens = [GRANT.fullmatch(w.ask("sl", key, "0 3 10")).group(1) for _ in range(3)]
    assert w.ask("sl", key, "0 3") == "timeout"  # one connection may hold several slots
    assert w.ask("sl", key, "0 2") == "error_limit_mismatch"
    assert w.ask("sn", key, f"{tokens[0]} 5") == "ok 5"
    assert w.ask("sn", key, tokens[0]) == "ok 33"
    assert w.ask("sr", key, tokens[0]) == "ok"
    entry = next(e for e in stats(w)["semaphores"] if e["key"] == key)
    assert entry == {"key": key, "limit": 3, "holders": 2, "waiters": 0}


def test_two_phase_answers(target: Target, key: str) -> None:
    a, b = target.wire(), target.wire()
    status, token, lease = a.ask("e", key, "").split()
    assert (status, lease) == ("acquired", "33")
    assert a.ask("e", key, "") == "error_already_enqueued"
    assert a.ask("w", key, "5") == f"ok {token} 33"
    assert b.ask("e", key, "10") == "queued"
    assert b.ask("w", key, "0") == "timeout"
    assert b.ask("w", key, "0") == "error_not_enqueued"  # a timed-out wait leaves the queue
    assert b.ask("w", f"{key}-other", "1") == "error_not_enqueued"
    assert b.ask("e", key, "10") == "queued"
    assert a.ask("r", key, token) == "ok"
    status, _, lease2 = b.ask("w", key, "5").split()
    assert (status, lease2) == ("ok", "10")


def test_stats_shape(target: Target, key: str) -> None:
    a, b = target.wire(), target.wire()
    a.ask("l", key, "0 20")
    b.send("l", key, "30")
    wait_for(lambda: _lock(a, key).get("waiters") == 1, "a waiter")
    body = stats(a)
    expected = {"connections", "locks", "semaphores", "idle_locks", "idle_semaphores"}
    if target.profile.signals:
        expected.add("signal_channels")
    assert set(body) == expected
    entry = _lock(a, key)
    assert set(entry) == {"key", "owner_conn_id", "lease_expires_in_s", "waiters"}
    assert 0 < entry["lease_expires_in_s"] <= 20


def test_pipelined_requests_are_answered_in_order(target: Target, key: str) -> None:
    w = target.wire()
    w.sock.sendall(f"l\n{key}\n0\nstats\n_\n\nbogus\n_\n\nl\n{key}-2\n0\n".encode())
    assert GRANT.fullmatch(w.line())
    assert w.line().startswith("ok {")
    assert w.line() == "error"
    assert GRANT.fullmatch(w.line())


def test_crlf_lines(target: Target, key: str) -> None:
    w = target.wire()
    w.sock.sendall(f"l\r\n{key}\r\n0 5\r\n".encode())
    assert GRANT.fullmatch(w.line()).group(2) == "5"


def test_over_long_line_answers_error_and_closes(target: Target) -> None:
    w = target.wire()
    w.sock.sendall(b"l\n" + b"k" * 300 + b"\n0\n")
    assert w.line() == "error"
    assert w.closed_by_server()


def test_a_256_byte_key_is_fine(target: Target) -> None:
    assert GRANT.fullmatch(target.wire().ask("l", "k" * 256, "0"))


def test_closing_releases_everything(target: Target, key: str) -> None:
    a, b = target.wire(), target.wire()
    a.ask("l", key, "0")
    a.ask("sl", f"{key}-s", "0 2")
    a.close()
    assert GRANT.fullmatch(b.ask("l", key, "5"))
    wait_for(lambda: not any(e["key"] == f"{key}-s" for e in stats(b)["semaphores"]), "slot")


# -- leases and limits (servers with their own flags) ----------------------------------------


def test_a_lease_that_ran_out_passes_on_and_cannot_be_renewed(target: Target, key: str) -> None:
    a, b = target.wire(), target.wire()
    token = GRANT.fullmatch(a.ask("l", key, "0 1")).group(1)
    status, other, _ = b.ask("l", key, "5").split()  # granted when the lease ends
    assert status == "ok"
    assert other != token
    assert a.ask("n", key, token) == "error"


def test_releasing_a_lease_that_ran_out_but_was_not_swept_is_ok(target: Target, key: str) -> None:
    w = target.wire("--lease-sweep-interval", "60")
    token = GRANT.fullmatch(w.ask("l", key, "0 1")).group(1)
    time.sleep(1.3)  # nothing to wait for: the lease must run out on the server's clock
    assert w.ask("r", key, token) == "ok"  # release does not look at the clock


def test_renewing_a_lease_that_ran_out_evicts_it(target: Target, key: str) -> None:
    a = target.wire("--lease-sweep-interval", "60")
    b = target.wire("--lease-sweep-interval", "60")
    token = GRANT.fullmatch(a.ask("l", key, "0 1")).group(1)
    time.sleep(1.3)  # nothing to wait for: the lease must run out on the server's clock
    assert a.ask("n", key, token) == "error"
    assert GRANT.fullmatch(b.ask("l", key, "0"))


def test_wait_after_a_two_phase_grant_ran_out(target: Target, key: str) -> None:
    w = target.wire("--lease-sweep-interval", "60")
    assert w.ask("e", key, "1").startswith("acquired ")
    time.sleep(1.3)  # nothing to wait for: the lease must run out on the server's clock
    assert w.ask("w", key, "1") == "error_lease_expired"


def test_wait_after_the_sweep_took_a_two_phase_grant(target: Target, key: str) -> None:
    w, observer = target.wire(), target.wire()
    token = w.ask("e", key, "1").split()[1]
    wait_for(lambda: not _lock(observer, key), "the sweep to end the lease")
    assert w.ask("w", key, "1") == "error_not_enqueued"
    assert w.ask("r", key, token) == "error"
    assert w.ask("e", key, "5").startswith("acquired ")  # the connection may enqueue again


def test_idle_connections_are_closed_with_error(target: Target) -> None:
    w = target.wire("--read-timeout", "1")
    assert w.line() == "error"  # written when the idle limit passes
    assert w.closed_by_server()


def test_key_and_waiter_limits(target: Target, key: str) -> None:
    a = target.wire("--max-locks", "2", "--max-waiters", "1")
    b = target.wire("--max-locks", "2", "--max-waiters", "1")
    c = target.wire("--max-locks", "2", "--max-waiters", "1")
    assert GRANT.fullmatch(a.ask("l", f"{key}-1", "0"))
    assert GRANT.fullmatch(a.ask("l", f"{key}-2", "0"))
    assert a.ask("l", f"{key}-3", "0") == "error_max_locks"
    b.send("l", f"{key}-1", "30")
    wait_for(lambda: _lock(a, f"{key}-1").get("waiters") == 1, "a waiter")
    assert c.ask("l", f"{key}-1", "0") == "error_max_waiters"


def test_auth(target: Target) -> None:
    flags = ("--auth-token", "s3cret")
    good = target.wire(*flags)
    assert good.ask("auth", "_", "s3cret") == "ok"
    assert good.ask("auth", "_", "s3cret") == "error"  # only the first request authenticates
    assert good.ask("stats").startswith("ok {")
    wrong = target.wire(*flags)
    assert wrong.ask("auth", "_", "nope") == "error_auth"
    assert wrong.closed_by_server()
    skipped = target.wire(*flags)
    assert skipped.ask("stats") == "error_auth"
    assert skipped.closed_by_server()
