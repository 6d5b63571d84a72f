"""The `dflock` command, run as a real subprocess against the session server."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

# Every test here runs against the oldest and the newest dflockd generation.
pytestmark = pytest.mark.dflock_compat("1.10", "2.1")

DFLOCK = [sys.executable, "-m", "dflock_integrations"]


@pytest.fixture
def env(dflock_settings, tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")}
    environment["DFLOCK_SERVERS"] = str(dflock_settings.servers[0])
    environment["DFLOCK_KEY_PREFIX"] = dflock_settings.key_prefix
    return environment


def dflock(*args, env, timeout=30, **kwargs):
    return subprocess.run(
        [*DFLOCK, *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def test_stats_table_and_json(dflock_client, env):
    with dflock_client.lock("cli-held"), dflock_client.semaphore("cli-sem", limit=3):
        table = dflock("stats", env=env)
        as_json = dflock("stats", "--json", env=env)
    assert table.returncode == 0, table.stderr
    assert "KEY" in table.stdout
    assert "LEASE LEFT" in table.stdout
    held_row = next(line for line in table.stdout.splitlines() if "cli-held" in line)
    assert " lock " in held_row
    sem_row = next(line for line in table.stdout.splitlines() if "cli-sem" in line)
    assert "1/3" in sem_row
    assert as_json.returncode == 0
    assert '"semaphores"' in as_json.stdout


def test_stats_unreachable_server_exits_nonzero(env):
    env = {**env, "DFLOCK_SERVERS": "127.0.0.1:1", "DFLOCK_CONNECT_TIMEOUT_S": "1"}
    result = dflock("stats", env=env)
    assert result.returncode == 69
    assert "127.0.0.1:1 unreachable" in result.stderr


@pytest.mark.dflock_compat("1.16")
def test_emit_and_listen(dflock_client, env):
    listener = subprocess.Popen(
        [*DFLOCK, "listen", "cli.>", "--count", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in listener.stderr.readline()
        sent = dflock("emit", "cli.hello", "world", env=env)
        assert sent.stdout.strip() == "1", sent.stderr
        out, _ = listener.communicate(timeout=10)
        assert out.strip() == "cli.hello world"
        assert listener.returncode == 0
    finally:
        listener.kill()


def test_run_passes_exit_code_and_releases(dflock_client, env):
    script = "import sys; sys.exit(3)"
    result = dflock("run", "cli-run", "--", sys.executable, "-c", script, env=env)
    assert result.returncode == 3
    assert dflock_client.stats().find(dflock_client.settings.key_prefix + "cli-run") is None


def test_run_holds_the_lock_while_the_command_runs(dflock_client, env, tmp_path):
    key = dflock_client.settings.key_prefix + "cli-busy"
    check = textwrap.dedent(f"""
        from dflock_integrations import SyncDflockClient
        with SyncDflockClient() as c:
            print(c.stats().find({key!r}) is not None)
    """)
    result = dflock("run", "cli-busy", "--", sys.executable, "-c", check, env=env)
    assert result.stdout.strip() == "True", result.stderr


def test_run_timeout_exit_code(dflock_client, env):
    with dflock_client.lock("cli-taken"):
        result = dflock("run", "cli-taken", "--timeout", "0", "--", "true", env=env)
    assert result.returncode == 75
    assert "not granted" in result.stderr


def test_run_interrupted_releases(dflock_client, env):
    key = dflock_client.settings.key_prefix + "cli-int"
    runner = subprocess.Popen(
        [
            *DFLOCK,
            "run",
            "cli-int",
            "--",
            sys.executable,
            "-c",
            "import time; print('started', flush=True); time.sleep(60)",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert runner.stdout.readline().strip() == "started"
        assert dflock_client.stats().find(key) is not None
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert runner.wait(timeout=15) != 0
        assert dflock_client.stats().find(key) is None
    finally:
        runner.kill()


def test_bad_settings_are_a_usage_error(env):
    result = dflock("stats", env={**env, "DFLOCK_SERVERS": "nohost:notaport"})
    assert result.returncode == 2
    assert "DFLOCK_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr
