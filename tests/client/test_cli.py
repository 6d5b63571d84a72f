"""The `dflock` command, run as a real subprocess against the session server."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import brokers

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


@pytest.mark.dflock_compat("2.1")
def test_emit_and_listen_through_a_broker(env, broker_url):
    """dflockd 2.1 has no signals: DFLOCK_SIGNALS_URL carries them."""
    env = {
        **env,
        "DFLOCK_SIGNALS_URL": broker_url,
        "DFLOCK_KEY_PREFIX": f"r{brokers.RUN}.{env['DFLOCK_KEY_PREFIX']}",
    }
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
        assert sent.returncode == 0, sent.stderr
        if broker_url.startswith("nats"):  # NATS does not tell a publisher who got it
            assert sent.stdout == ""
            assert "does not tell how many listeners" in sent.stderr
        else:
            assert sent.stdout.strip() == "1", sent.stderr
        out, _ = listener.communicate(timeout=10)
        assert out.strip() == "cli.hello world"
        assert listener.returncode == 0
    finally:
        listener.kill()


@pytest.mark.dflock_compat("2.1")
@pytest.mark.parametrize("kind", ["nats", "redis"])
def test_an_unreachable_broker_exits_69_and_a_bad_url_78(env, kind):
    down = dflock("emit", "a", "x", env={**env, "DFLOCK_SIGNALS_URL": f"{kind}://127.0.0.1:1"})
    assert down.returncode == 69
    assert "unreachable" in down.stderr
    bad = dflock("emit", "a", "x", env={**env, "DFLOCK_SIGNALS_URL": f"{kind}:/nohost"})
    assert bad.returncode == 78
    assert "DFLOCK_SIGNALS_URL" in bad.stderr


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


@pytest.mark.parametrize("command", [["stats"], ["listen", "a.>"], ["emit", "a", "x"]])
def test_bad_settings_exit_78_with_the_variable_and_no_traceback(env, command):
    result = dflock(*command, env={**env, "DFLOCK_SERVERS": "nohost:notaport"})
    assert result.returncode == 78  # EX_CONFIG
    assert "DFLOCK_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_misspelt_variable_exits_78_naming_the_setting(env):
    result = dflock("stats", env={**env, "DFLOCK_SERVER": "db:6388"})
    assert result.returncode == 78
    assert "did you mean DFLOCK_SERVERS?" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["stats"], ["listen", "a.>", "--count", "1"], ["emit", "a", "x"], ["run", "k", "--", "true"]],
)
def test_a_refused_token_exits_77_without_a_traceback(env, dflock_server_factory, command):
    server = dflock_server_factory(port=0, auth_token="right-token")
    result = dflock(
        *command,
        env={**env, "DFLOCK_SERVERS": server.address, "DFLOCK_AUTH_TOKEN": "wrong-token"},
    )
    assert result.returncode == 77, result.stderr  # EX_NOPERM, the same for every command
    assert "Traceback" not in result.stderr
    assert "wrong-token" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["stats"], ["listen", "a.>", "--count", "1"], ["emit", "a", "x"], ["run", "k", "--", "true"]],
)
def test_an_unreachable_server_exits_69_for_every_command(env, command):
    result = dflock(
        *command, env={**env, "DFLOCK_SERVERS": "127.0.0.1:1", "DFLOCK_CONNECT_TIMEOUT_S": "1"}
    )
    assert result.returncode == 69, result.stderr
    assert "Traceback" not in result.stderr


def test_stats_does_not_call_an_unreadable_server_empty(env):
    env = {**env, "DFLOCK_SERVERS": "127.0.0.1:1", "DFLOCK_CONNECT_TIMEOUT_S": "1"}
    result = dflock("stats", env=env)
    assert result.returncode == 69
    assert result.stdout == ""  # no "no locks or semaphores": nothing was read
    assert "127.0.0.1:1 unreachable" in result.stderr


def test_stats_says_which_servers_it_found_empty(dflock_server_factory, env):
    server = dflock_server_factory(port=0)
    result = dflock("stats", env={**env, "DFLOCK_SERVERS": server.address})
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"no locks or semaphores on {server.address}"


def test_connection_options_are_taken_after_the_subcommand_too(dflock_client, env):
    prefix = dflock_client.settings.key_prefix
    env = {k: v for k, v in env.items() if k != "DFLOCK_KEY_PREFIX"}
    with dflock_client.lock("late-held"):
        before = dflock("--key-prefix", prefix, "stats", "--json", env=env)
        after = dflock("stats", "--json", "--key-prefix", "ignored.", env=env)
        both = dflock("--key-prefix", "ignored.", "stats", "--key-prefix", prefix, env=env)
    assert prefix + "late-held" in before.stdout
    assert before.returncode == after.returncode == both.returncode == 0
    assert prefix + "late-held" in both.stdout  # the one after the subcommand wins


@pytest.mark.dflock_compat("1.16")
def test_listen_takes_the_key_prefix_after_the_subcommand(dflock_client, env):
    prefix = dflock_client.settings.key_prefix
    env = {k: v for k, v in env.items() if k != "DFLOCK_KEY_PREFIX"}
    listener = subprocess.Popen(
        [*DFLOCK, "listen", "--key-prefix", prefix, "--count", "1", "late.>"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in listener.stderr.readline()
        assert dflock_client.emit("late.hello", "world") == 1
        out, _ = listener.communicate(timeout=10)
        assert out.strip() == "late.hello world"
        assert listener.returncode == 0
    finally:
        listener.kill()


def test_env_file_is_read_when_named(dflock_client, env, tmp_path):
    prefix = dflock_client.settings.key_prefix
    env_file = tmp_path / "dflock.env"
    env_file.write_text(f"DFLOCK_KEY_PREFIX={prefix}\n")
    env = {k: v for k, v in env.items() if k != "DFLOCK_KEY_PREFIX"}
    with dflock_client.lock("from-file"):
        result = dflock("stats", "--env-file", str(env_file), env=env)
    assert result.returncode == 0, result.stderr
    assert prefix + "from-file" in result.stdout


def test_a_bad_key_is_a_usage_error(env):
    result = dflock("emit", "orders.*", "x", env=env)
    assert result.returncode == 2
    assert "wildcards" in result.stderr
    assert "Traceback" not in result.stderr
