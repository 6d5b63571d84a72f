"""`dflock stats --watch | --prefix | --json` and `dflock health`, as real subprocesses.

A terminal is a real pseudo-terminal; Ctrl-C is a real SIGINT.
"""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

DFLOCK = [sys.executable, "-m", "dflock_integrations"]
CLEAR = "\x1b[H\x1b[2J"


@pytest.fixture
def env(dflock_settings):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")}
    environment["DFLOCK_SERVERS"] = str(dflock_settings.servers[0])
    environment["DFLOCK_KEY_PREFIX"] = dflock_settings.key_prefix
    return environment


def dflock(*args, env, timeout=30):
    return subprocess.run(
        [*DFLOCK, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def interrupt(process, *, timeout_s=10.0):
    """Ctrl-C, and the exit status it brings."""
    process.send_signal(signal.SIGINT)
    return process.wait(timeout_s)


def test_watch_redraws_a_terminal_in_place(dflock_client, env):
    leader, follower = pty.openpty()
    with dflock_client.lock("watched"):
        process = subprocess.Popen(
            [*DFLOCK, "stats", "--watch", "0.2"], env=env, stdout=follower, stderr=follower
        )
        os.close(follower)
        seen = ""
        deadline = time.monotonic() + 15
        try:
            while seen.count(CLEAR) < 3:
                assert time.monotonic() < deadline, f"no three redraws: {seen!r}"
                ready, _, _ = select.select([leader], [], [], 0.5)
                if ready:
                    seen += os.read(leader, 65536).decode(errors="replace")
            assert interrupt(process) == 0
        finally:
            process.kill()
            os.close(leader)
    frames = seen.split(CLEAR)[1:]
    assert all("(Ctrl-C to stop)" in frame for frame in frames)
    assert all(dflock_client.settings.key_prefix + "watched" in frame for frame in frames[:2])


def test_watch_prints_plain_rounds_into_a_pipe_and_ctrl_c_exits_0(env):
    process = subprocess.Popen(
        [*DFLOCK, "stats", "--watch", "0.1"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        headings = 0
        while headings < 2:
            line = process.stdout.readline()
            assert line, "the watch ended by itself"
            headings += "every 0.1 s  (Ctrl-C to stop)" in line
        assert interrupt(process) == 0
        rest = process.stdout.read()
    finally:
        process.kill()
    assert "\x1b" not in rest  # no terminal codes where there is no terminal


def test_watch_without_a_value_takes_two_seconds(env):
    result = dflock("stats", "--watch", "--iterations", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert "every 2 s" in result.stdout


def test_watch_as_json_prints_one_document_per_line(dflock_client, env):
    with dflock_client.semaphore("slots", limit=3):
        result = dflock("stats", "--watch", "0.05", "--iterations", "3", "--json", env=env)
    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(documents) == 3
    key = dflock_client.settings.key_prefix + "slots"
    for document in documents:
        assert document["schema"] == 1
        (entry,) = [e for e in document["semaphores"] if e["key"] == key]
        assert entry == {
            "server": str(dflock_client.settings.servers[0]),
            "key": key,
            "limit": 3,
            "holders": 1,
            "waiters": 0,
        }


def test_json_has_the_documented_fields(dflock_client, env):
    waiter = dflock_client.lock("doc-held")
    with dflock_client.lock("doc-held"):
        assert waiter.enqueue() is False
        try:
            result = dflock("stats", "--json", env=env)
        finally:
            waiter.release()
    document = json.loads(result.stdout)
    assert set(document) == {
        "schema", "at", "connections", "locks", "semaphores", "idle_locks",
        "idle_semaphores", "signal_channels", "unreachable",
    }  # fmt: skip
    key = dflock_client.settings.key_prefix + "doc-held"
    (entry,) = [e for e in document["locks"] if e["key"] == key]
    assert set(entry) == {"server", "key", "waiters", "lease_expires_in_s", "owner_conn_id"}
    assert entry["waiters"] == 1
    assert 0 < entry["lease_expires_in_s"] <= dflock_client.settings.lease_ttl_s


def test_prefix_keeps_only_the_keys_that_start_with_it(dflock_client, env):
    prefix = dflock_client.settings.key_prefix
    with dflock_client.lock("orders:1"), dflock_client.lock("invoices:1"):
        table = dflock("stats", "--prefix", prefix + "orders:", env=env)
        as_json = dflock("stats", "--json", "--prefix", prefix + "orders:", env=env)
    assert table.returncode == 0, table.stderr
    assert prefix + "orders:1" in table.stdout
    assert "invoices" not in table.stdout
    keys = [e["key"] for e in json.loads(as_json.stdout)["locks"]]
    assert keys == [prefix + "orders:1"]


def test_watch_goes_on_while_a_server_is_down(dflock_server_process, env):
    server = dflock_server_process()
    env = {**env, "DFLOCK_SERVERS": server.address, "DFLOCK_CONNECT_TIMEOUT_S": "1"}
    process = subprocess.Popen(
        [*DFLOCK, "stats", "--watch", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "(Ctrl-C to stop)" in process.stdout.readline()
        server.kill()
        line = process.stderr.readline()
        assert f"{server.address} unreachable" in line
        assert process.poll() is None  # still watching
        assert interrupt(process) == 0
    finally:
        process.kill()


# -- dflock health -----------------------------------------------------------------------


def test_health_is_ready_when_the_server_answers(env):
    result = dflock("health", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ready      {env['DFLOCK_SERVERS']}")


def test_health_exits_69_within_its_timeout_when_the_server_is_frozen(dflock_server_process, env):
    server = dflock_server_process()
    env = {**env, "DFLOCK_SERVERS": server.address}
    assert dflock("health", env=env).returncode == 0
    server.freeze()
    started = time.monotonic()
    result = dflock("health", "--timeout", "0.5", "--json", env=env)
    took = time.monotonic() - started
    assert result.returncode == 69
    answer = json.loads(result.stdout)
    assert answer["status"] == "not_ready"
    assert answer["servers"][0]["error"].endswith("did not answer within 0.5 s")
    assert took < 5, f"{took:.1f} s, interpreter start included"


def test_health_exits_69_when_the_server_is_down(dflock_server_process, env):
    server = dflock_server_process()
    server.kill()
    result = dflock("health", env={**env, "DFLOCK_SERVERS": server.address})
    assert result.returncode == 69
    assert result.stdout.startswith(f"not ready  {server.address}  cannot connect")


def test_health_exits_78_for_settings_that_cannot_work(env):
    result = dflock("health", env={**env, "DFLOCK_HEALTH_TIMEOUT_S": "-1"})
    assert result.returncode == 78
    assert "DFLOCK_HEALTH_TIMEOUT_S" in result.stderr
    assert "Traceback" not in result.stderr
