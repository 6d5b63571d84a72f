"""Run with `pytest test_orders.py`: the plugin starts a server when a test asks for one."""

from dflock_integrations.pytest_plugin import settings_for


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


if __name__ == "__main__":  # the docs' test suite runs this file through pytest
    import os
    import sys

    os.execv(
        sys.executable, [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
    )
