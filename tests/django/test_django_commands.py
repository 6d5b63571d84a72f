"""Management commands through call_command, and exit codes through manage.py's entry point."""

import io
import json
import threading

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from dflock_integrations.django import get_client, get_settings, lock, semaphore

import brokers
from helpers import eventually_sync


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def manage(*argv):
    """`manage.py ARGV...` as the shell runs it; returns the exit code."""
    try:
        ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as exited:
        return exited.code
    return 0


# -- dflock_stats -----------------------------------------------------------------------


@pytest.mark.dflock_compat("1.10", "2.1")
def test_stats_table_shows_held_keys(dflock_site):
    prefix = dflock_site["KEY_PREFIX"]
    with lock("report:1"), semaphore("exports", limit=3):
        out, err = run("dflock_stats")
    assert out.splitlines()[0].split() == [
        "SERVER", "KEY", "KIND", "HOLDERS/LIMIT", "WAITERS", "LEASE", "LEFT",
    ]  # fmt: skip
    rows = {line.split()[1]: line.split() for line in out.splitlines()[1:] if prefix in line}
    assert rows[f"{prefix}report:1"][2] == "lock"
    assert rows[f"{prefix}exports"][2:4] == ["semaphore", "1/3"]
    assert err == ""


@pytest.mark.dflock_compat("1.10", "2.1")
def test_stats_json(dflock_site):
    with lock("report:2"):
        out, _ = run("dflock_stats", "--json")
    stats = json.loads(out)
    keys = [entry["key"] for entry in stats["locks"]]
    assert f"{dflock_site['KEY_PREFIX']}report:2" in keys
    assert stats["unreachable"] == {}


def test_stats_watch_repeats(dflock_site):
    out, _ = run("dflock_stats", "--watch", "0.01", "--iterations", "3")
    assert out.count("(Ctrl-C to stop)") == 3
    out, _ = run("dflock_stats", "--watch", "0.01", "--iterations", "2", "--json")
    frames = [json.loads(line) for line in out.splitlines()]
    assert len(frames) == 2


def test_stats_watch_without_a_value_takes_two_seconds(dflock_site):
    out, _ = run("dflock_stats", "--watch", "--iterations", "1")
    assert "every 2 s  (Ctrl-C to stop)" in out
    assert "\x1b" not in out  # not a terminal: nothing to clear


def test_stats_prefix_keeps_only_the_keys_that_start_with_it(dflock_site):
    prefix = dflock_site["KEY_PREFIX"]
    with lock("orders:1"), lock("invoices:1"):
        out, _ = run("dflock_stats", "--prefix", f"{prefix}orders:")
        as_json, _ = run("dflock_stats", "--json", "--prefix", f"{prefix}orders:")
    assert f"{prefix}orders:1" in out
    assert "invoices" not in out
    document = json.loads(as_json)
    assert document["schema"] == 1
    assert [e["key"] for e in document["locks"]] == [f"{prefix}orders:1"]


def test_stats_watch_ends_with_status_0_on_ctrl_c(dflock_site, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DFLOCK_")},
        "DJANGO_SETTINGS_MODULE": "dflock_testsite.settings",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
        "PYTHONUNBUFFERED": "1",
        "DFLOCK_SERVERS": dflock_site["SERVERS"][0],
    }
    watch = subprocess.Popen(
        [sys.executable, "-m", "django", "dflock_stats", "--watch", "0.1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        rounds = 0
        while rounds < 2:
            line = watch.stdout.readline()
            assert line, "the watch ended by itself"
            rounds += "(Ctrl-C to stop)" in line
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=15) == 0
    finally:
        watch.kill()
        watch.wait()


def test_stats_watch_rejects_a_non_positive_interval():
    with pytest.raises(CommandError, match="--watch"):
        run("dflock_stats", "--watch", "0")


def test_stats_names_an_unreachable_server(
    settings, dflock_site, dflock_server, dflock_client, closed_address
):
    settings.DFLOCK = {**dflock_site, "SERVERS": [dflock_server.address, closed_address]}
    out, err = io.StringIO(), io.StringIO()
    with (
        dflock_client.lock("report:3"),
        pytest.raises(CommandError, match=closed_address) as caught,
    ):
        call_command("dflock_stats", stdout=out, stderr=err)
    assert caught.value.returncode == 69
    assert f"{dflock_site['KEY_PREFIX']}report:3" in out.getvalue()  # the live server's part
    assert f"{closed_address} unreachable" in err.getvalue()


def test_stats_exit_code_from_the_shell(settings, dflock_site, closed_address, capsys):
    assert manage("dflock_stats") == 0
    settings.DFLOCK = {**dflock_site, "SERVERS": closed_address}
    assert manage("dflock_stats") == 69
    captured = capsys.readouterr()
    assert closed_address in captured.err
    assert "unreachable" in captured.err


def test_stats_reports_bad_settings(settings):
    settings.DFLOCK = {"LEASE_TTL_S": "soon"}
    with pytest.raises(CommandError, match=r'DFLOCK\["LEASE_TTL_S"\]'):
        run("dflock_stats")


# -- dflock_emit and dflock_listen ------------------------------------------------------


def test_emit_prints_how_many_listeners_got_it():
    assert run("dflock_emit", "orders.paid", '{"id": 1}')[0].strip() == "0"
    with get_client().listen("orders.*") as subscription:
        assert run("dflock_emit", "orders.paid", '{"id": 1}')[0].strip() == "1"
        signal = subscription.get(timeout_s=5)
    assert signal is not None
    assert (signal.channel, signal.json()) == ("orders.paid", {"id": 1})


@pytest.mark.dflock_compat("1.10", "2.1")
def test_emit_and_listen_where_the_server_has_no_signals(dflock_site):
    with pytest.raises(CommandError, match="no signals") as caught:
        run("dflock_emit", "orders.paid", "x")
    assert caught.value.returncode == 69
    with pytest.raises(CommandError, match="no signals") as caught:
        run("dflock_listen", "orders.>", "--count", "1")
    assert caught.value.returncode == 69


def test_emit_rejects_a_bad_channel():
    with pytest.raises(CommandError, match="wildcards"):
        run("dflock_emit", "orders.*", "x")


def test_emit_to_an_unreachable_server(settings, dflock_site, closed_address):
    settings.DFLOCK = {**dflock_site, "SERVERS": closed_address}
    with pytest.raises(CommandError) as caught:
        run("dflock_emit", "orders.paid", "x")
    assert caught.value.returncode == 69


@pytest.mark.parametrize("as_json", [False, True])
def test_listen_prints_signals_until_count(dflock_site, as_json):
    out, err = io.StringIO(), io.StringIO()
    options = {"count": 2, "json": as_json, "stdout": out, "stderr": err}
    listener = threading.Thread(
        target=call_command, args=("dflock_listen", "jobs.>"), kwargs=options, daemon=True
    )
    listener.start()
    full = f"{dflock_site['KEY_PREFIX']}jobs.>"

    def listening():
        stats = get_client().stats()
        return any(entry["pattern"] == full for entry in stats.signal_channels)

    eventually_sync(listening, what="the listener to subscribe")
    client = get_client()
    assert client.emit("jobs.done.a", "first") == 1
    assert client.emit("jobs.done.b", {"n": 2}) == 1
    listener.join(timeout=10)
    assert not listener.is_alive()
    lines = out.getvalue().splitlines()
    if as_json:
        assert [json.loads(line)["payload"] for line in lines] == ["first", '{"n":2}']
    else:
        assert lines == ["jobs.done.a first", 'jobs.done.b {"n":2}']
    assert "listening on 'jobs.>'" in err.getvalue()


@pytest.mark.dflock_compat("2.1")
def test_emit_and_listen_through_a_broker(settings, dflock_site, broker_url):
    """dflockd 2.1 has no signals; DFLOCK["SIGNALS_URL"] puts them on NATS or Redis."""
    prefix = f"r{brokers.RUN}.{dflock_site['KEY_PREFIX']}"
    settings.DFLOCK = {**dflock_site, "SIGNALS_URL": broker_url, "KEY_PREFIX": prefix}
    out, err = io.StringIO(), io.StringIO()
    options = {"count": 2, "stdout": out, "stderr": err}
    listener = threading.Thread(
        target=call_command, args=("dflock_listen", "jobs.>"), kwargs=options, daemon=True
    )
    listener.start()
    eventually_sync(lambda: "listening on" in err.getvalue(), what="the listener to subscribe")
    sent, note = run("dflock_emit", "jobs.done.a", "first")
    if broker_url.startswith("nats"):  # NATS does not tell a publisher who got it
        assert (sent, note.strip()) == (
            "",
            "sent; the broker does not tell how many listeners got it",
        )
    else:
        assert sent.strip() == "1"
    run("dflock_emit", "jobs.done.b", '{"n": 2}')
    listener.join(timeout=10)
    assert not listener.is_alive()
    assert out.getvalue().splitlines() == ["jobs.done.a first", 'jobs.done.b {"n": 2}']


def test_listen_rejects_a_bad_pattern():
    with pytest.raises(CommandError, match="'>' must be the last token"):
        run("dflock_listen", "jobs.>.x", count=1)


def test_commands_use_the_current_settings(settings, dflock_site):
    settings.DFLOCK = {**dflock_site, "KEY_PREFIX": dflock_site["KEY_PREFIX"] + "inner."}
    with lock("k"):
        out, _ = run("dflock_stats")
    assert f"{get_settings().key_prefix}k" in out


# -- dflock_serve -----------------------------------------------------------------------


def test_serve_runs_the_embedded_server_until_interrupted(tmp_path):
    import os
    import selectors
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from dflock_integrations import SyncDflockClient

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dflock_testsite.settings",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
        "PYTHONUNBUFFERED": "1",
        "DFLOCK_AUTH_TOKEN": "dev-token",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "dflock_serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        selector = selectors.DefaultSelector()
        selector.register(server.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        first = ""
        while not first and time.monotonic() < deadline and server.poll() is None:
            if selector.select(timeout=0.1):
                first = server.stdout.readline()
        assert "dflock server listening on 127.0.0.1:" in first, server.stderr.read()
        address = first.split("listening on ")[1].split()[0]
        assert "(auth on)" in first

        with (
            SyncDflockClient(servers=address, auth_token="dev-token") as dflock,
            dflock.lock("dev:1") as held,
        ):
            assert dflock.stats().find("dev:1")["key"] == held.key

        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=15) == 0
        assert "dflock server stopped" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_serve_reports_a_port_in_use(dflock_server):
    with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{dflock_server.port}"):
        run("dflock_serve", "--port", str(dflock_server.port))
