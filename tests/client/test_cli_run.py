"""`dflock run` under signals, lost leases and missing commands, as real processes."""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from helpers import eventually_sync

DFLOCK = [sys.executable, "-m", "dflock_integrations"]

# The command under dflock: records the signals it is given, says it started, and exits
# with CODE once the test creates the file `go` (or at once on a signal it does not
# handle). MODE "record" handles SIGNALS; "ignore" ignores them.
COMMAND = textwrap.dedent("""
    import pathlib, signal, sys, time
    folder, mode, names, code = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    def record(signum, frame):
        (folder / signal.Signals(signum).name).touch()

    for name in filter(None, names.split(",")):
        handler = record if mode == "record" else signal.SIG_IGN
        signal.signal(getattr(signal, name), handler)
    print("started", flush=True)
    deadline = time.monotonic() + 60  # never outlive a test that failed before `go`
    while not (folder / "go").exists():
        if time.monotonic() > deadline or not folder.exists():
            sys.exit(99)
        time.sleep(0.01)
    sys.exit(int(code))
""")


@pytest.fixture
def env(dflock_settings):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")}
    environment["DFLOCK_SERVERS"] = str(dflock_settings.servers[0])
    environment["DFLOCK_KEY_PREFIX"] = dflock_settings.key_prefix
    return environment


@pytest.fixture
def command(tmp_path):
    script = tmp_path / "command.py"
    script.write_text(COMMAND)

    def make(mode="record", signals="", code=0):
        return [sys.executable, str(script), str(tmp_path), mode, signals, str(code)]

    return make


def start(*args, env):
    """`dflock ARGS` in a session of its own (no terminal): signals reach only it."""
    runner = subprocess.Popen(
        [*DFLOCK, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert read_until(runner.stdout, "started"), runner.stderr.read()
    return runner


def stop(runner):
    """Kill dflock and its command (a session of their own) if a test left them running."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(runner.pid, signal.SIGKILL)  # the whole session: dflock and its command
    runner.wait()


def read_until(stream, text, timeout_s=30.0):
    """Lines of `stream` until one holds `text`; the line, or None at EOF or deadline.

    A thread reads, as a selector cannot see lines already in the stream's buffer.
    """
    found: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            if text in line:
                found.put(line)
                return
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        return found.get(timeout=timeout_s)
    except queue.Empty:
        return None


def dflock(*args, env, timeout=30):
    return subprocess.run(
        [*DFLOCK, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def held(client, key):
    return client.stats().find(client.settings.key_prefix + key) is not None


def test_sigterm_reaches_the_command_and_the_lock_outlives_it(
    dflock_client, env, command, tmp_path
):
    runner = start("run", "job", "--", *command(signals="SIGTERM", code=3), env=env)
    try:
        runner.send_signal(signal.SIGTERM)  # what systemd, Kubernetes and `timeout` send
        eventually_sync((tmp_path / "SIGTERM").exists, what="SIGTERM passed on to the command")
        marker = tmp_path / "second-ran"
        second = dflock(
            "run", "job", "--timeout", "0", "--",
            sys.executable, "-c", f"open({str(marker)!r}, 'w')",
            env=env,
        )  # fmt: skip
        assert second.returncode == 75, second.stderr  # refused: the first still holds it
        assert not marker.exists()
        assert runner.poll() is None and held(dflock_client, "job")
        (tmp_path / "go").touch()  # the command finishes its clean-up and exits
        assert runner.wait(timeout=15) == 3  # its own status
        assert not held(dflock_client, "job")
        third = dflock(
            "run", "job", "--timeout", "0", "--",
            sys.executable, "-c", f"open({str(marker)!r}, 'w')",
            env=env,
        )  # fmt: skip
        assert third.returncode == 0, third.stderr
        assert marker.exists()
    finally:
        stop(runner)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_are_passed_on_too(dflock_client, env, command, tmp_path, signum):
    runner = start("run", "job", "--", *command(signals=signum.name), env=env)
    try:
        runner.send_signal(signum)
        eventually_sync((tmp_path / signum.name).exists, what=f"{signum.name} passed on")
        assert held(dflock_client, "job")
        (tmp_path / "go").touch()
        assert runner.wait(timeout=15) == 0
    finally:
        stop(runner)


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(dflock_client, env, command):
    runner = start(
        "run", "job", "--grace", "0.5", "--", *command(mode="ignore", signals="SIGTERM"), env=env
    )
    try:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=15) == 128 + signal.SIGKILL  # as a shell reports it
        assert not held(dflock_client, "job")
    finally:
        stop(runner)


def test_a_lost_lease_terminates_the_command(dflock_server_factory, env, command):
    server = dflock_server_factory(port=0)
    env = {**env, "DFLOCK_SERVERS": server.address, "DFLOCK_LEASE_TTL_S": "1"}
    runner = start("run", "job", "--", *command(), env=env)
    try:
        server.stop()  # the next renewal fails: the lease is lost
        assert runner.wait(timeout=15) == 70
        assert "lost the lease on 'job'; stopping" in runner.stderr.read()
    finally:
        stop(runner)


def test_a_lost_lease_with_on_lost_warn_lets_the_command_finish(
    dflock_server_factory, env, command, tmp_path
):
    server = dflock_server_factory(port=0)
    env = {**env, "DFLOCK_SERVERS": server.address, "DFLOCK_LEASE_TTL_S": "1"}
    runner = start("run", "job", "--on-lost", "warn", "--", *command(code=4), env=env)
    try:
        server.stop()
        assert read_until(runner.stderr, "the command runs on unprotected")
        assert runner.poll() is None  # still running
        (tmp_path / "go").touch()
        assert runner.wait(timeout=15) == 4  # its own status, the warning given
    finally:
        stop(runner)


def test_a_missing_command_exits_127_and_takes_no_lock(dflock_client, env, tmp_path):
    missing = dflock("run", "job", "--", "no-such-command-dflock-test", env=env)
    assert missing.returncode == 127
    assert "no-such-command-dflock-test: command not found" in missing.stderr
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    refused = dflock("run", "job", "--", str(script), env=env)
    assert refused.returncode == 126
    assert "permission denied" in refused.stderr
    assert "Traceback" not in missing.stderr + refused.stderr
    assert not held(dflock_client, "job")
