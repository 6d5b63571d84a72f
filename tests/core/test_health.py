"""Readiness: every configured server answers within the bounded time, or it is not ready.

The servers are real `dflock serve` processes, frozen (SIGSTOP: they accept connections
and answer nothing) and killed (SIGKILL) while the test runs.
"""

import time

import pytest

from dflock_integrations.health import acheck_health, check_health
from dflock_integrations.settings import DflockSettings
from dflock_integrations.testing.pytest_plugin import settings_for

# What a probe may take beyond its timeout: a fresh client, the gather, a loaded machine.
SLACK_S = 0.75


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def two_servers(dflock_server_process):
    first, second = dflock_server_process(), dflock_server_process()
    return first, second, DflockSettings(servers=[first.address, second.address])


def test_ready_when_every_server_answers(two_servers):
    first, second, settings = two_servers
    health, took = timed(lambda: check_health(settings, timeout_s=1))
    assert health.ready, health.summary()
    assert [s.server for s in health.servers] == [first.address, second.address]
    assert all(s.latency_s is not None and s.latency_s < 1 for s in health.servers)
    assert health.to_dict()["status"] == "ready"
    assert took < 1


def test_a_frozen_server_is_not_ready_within_the_timeout(two_servers):
    first, _, settings = two_servers
    first.freeze()
    health, took = timed(lambda: check_health(settings, timeout_s=0.5))
    assert not health.ready
    assert took < 0.5 + SLACK_S, f"the probe took {took:.2f} s"
    frozen, alive = health.servers
    assert frozen.error == f"dflockd at {first.address} did not answer within 0.5 s"
    assert alive.ready  # one answering server does not make the set ready
    assert health.to_dict()["status"] == "not_ready"
    first.thaw()
    assert check_health(settings, timeout_s=1).ready  # back as soon as it answers


def test_a_killed_server_is_not_ready_at_once(two_servers):
    _, second, settings = two_servers
    second.kill()
    health, took = timed(lambda: check_health(settings, timeout_s=5))
    assert not health.ready
    assert took < 1, "a refused connection needs no timeout to be known"
    assert f"cannot connect to dflockd at {second.address}" in health.servers[1].error
    second.start()  # the same port again
    assert check_health(settings, timeout_s=1).ready


async def test_the_async_check_asks_every_server_at_once(two_servers):
    first, second, settings = two_servers
    first.freeze()
    second.freeze()
    started = time.monotonic()
    health = await acheck_health(settings, timeout_s=0.5)
    took = time.monotonic() - started
    assert [s.ready for s in health.servers] == [False, False]
    assert took < 0.5 + SLACK_S, "two frozen servers cost one timeout, not two"


def test_the_timeout_comes_from_the_settings(dflock_server_process):
    server = dflock_server_process()
    server.freeze()
    settings = settings_for(server, health_timeout_s=0.3)
    health, took = timed(lambda: check_health(settings))
    assert health.timeout_s == 0.3
    assert not health.ready
    assert took < 0.3 + SLACK_S


def test_a_refused_token_is_not_ready_and_says_why(dflock_server_factory):
    server = dflock_server_factory(auth_token="right")
    health = check_health(settings_for(server, auth_token="wrong"), timeout_s=1)
    assert not health.ready
    assert "auth" in health.servers[0].error.lower()
    assert "wrong" not in health.summary()  # never the token


def test_settings_that_cannot_work_are_not_ready(monkeypatch):
    monkeypatch.setenv("DFLOCK_LEASE_TTL_S", "0")
    health = check_health(timeout_s=1)
    assert not health.ready
    assert health.servers == ()
    assert "DFLOCK_LEASE_TTL_S" in health.error
    assert health.to_dict()["error"] == health.error


async def test_the_sync_check_works_inside_a_running_loop(dflock_server):
    # An async view calling sync code: the probe runs on a thread of its own.
    assert check_health(settings_for(dflock_server), timeout_s=1).ready


def test_a_timeout_must_be_positive(dflock_server):
    with pytest.raises(ValueError, match="timeout_s"):
        check_health(settings_for(dflock_server), timeout_s=0)


def test_probes_report_no_metrics(dflock_server_process):
    prometheus_client = pytest.importorskip("prometheus_client")
    server = dflock_server_process()

    def samples():
        return {
            (sample.name, tuple(sorted(sample.labels.items())), sample.value)
            for metric in prometheus_client.REGISTRY.collect()
            if metric.name.startswith("dflock_")
            for sample in metric.samples
        }

    settings = settings_for(server, metrics="prometheus")
    before = samples()
    assert check_health(settings, timeout_s=1).ready
    server.freeze()
    assert not check_health(settings, timeout_s=0.3).ready
    assert samples() == before  # no new label, no count: the probe is not the application
