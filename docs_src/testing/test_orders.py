"""Run with `pytest test_orders.py`: the plugin starts a server when a test asks for one."""

import pytest

from dflock_integrations import SyncDflockClient
from dflock_integrations.testing.pytest_plugin import settings_for


def test_one_report_at_a_time(dflock_client):
    with dflock_client.lock("report") as lock:
        entry = dflock_client.stats().find(lock.key)  # what the server holds for the key
        assert entry["waiters"] == 0 and entry["lease_expires_in_s"] > 0
        second = dflock_client.lock("report")
        assert second.acquire(timeout_s=0) is False  # held: a second holder is refused


def test_a_short_idle_limit(dflock_server_factory):
    server = dflock_server_factory(read_timeout_s=0.5, auth_token="t")
    settings = settings_for(server)  # address, idle limit and token filled in
    assert settings.server_read_timeout_s == 0.5


# --8<-- [start:generations]
@pytest.mark.dflock_compat("1.10", "2.1")  # once as dflockd v1.10 answers, once as v2.1
def test_fences_where_the_server_has_them(dflock_client, dflock_compat):
    tokens = []
    for _ in range(3):
        with dflock_client.lock("report") as lock:
            tokens.append(lock.token)
    assert all(len(token) == 32 for token in tokens)  # both generations: 32 hex digits


def test_a_crashed_server(dflock_server_process):
    server = dflock_server_process("--read-timeout", "5")  # dflockd's own flags
    with SyncDflockClient(settings_for(server)) as client:
        lock = client.lock("report")
        lock.acquire()
        server.kill()  # SIGKILL; also freeze() / thaw() for SIGSTOP / SIGCONT
        server.start()  # the same port again, with nothing held
        assert client.lock("report").acquire(timeout_s=0)


# --8<-- [end:generations]


if __name__ == "__main__":  # the docs' test suite runs this file through pytest
    import os
    import sys

    os.execv(
        sys.executable, [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
    )
