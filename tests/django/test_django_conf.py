"""DFLOCK settings: mapping onto DflockSettings, precedence, laziness, the shared clients."""

import asyncio
import subprocess
import sys

import pytest
from django.test import override_settings

import dflock_integrations.django as dj
from dflock_integrations import ConfigurationError, SyncDflockClient
from dflock_integrations.django import Rule, conf

from helpers import eventually_sync


def test_public_names_are_pinned():
    assert sorted(dj.__all__) == [
        "DflockLockMixin", "DflockMiddleware", "HttpAnswer", "Rule", "aemit", "alock",
        "asemaphore", "close_clients", "dflock_lock", "dflock_multilock", "dflock_rate_limit",
        "dflock_semaphore", "emit",
        "get_async_client", "get_client", "get_settings", "json_response", "lock", "semaphore",
    ]  # fmt: skip
    for name in dj.__all__:
        assert hasattr(dj, name)


def test_keys_map_onto_dflock_settings(dflock_site, dflock_server):
    settings = dj.get_settings()
    assert [str(s) for s in settings.servers] == [dflock_server.address]
    assert settings.key_prefix == dflock_site["KEY_PREFIX"]
    with override_settings(DFLOCK={"LEASE_TTL_S": 7, "AUTH_TOKEN": "s3cret", "TLS": True}):
        settings = dj.get_settings()
        assert settings.lease_ttl_s == 7
        assert settings.token() == "s3cret"
        assert settings.tls is True


def test_django_settings_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("DFLOCK_LEASE_TTL_S", "99")
    monkeypatch.setenv("DFLOCK_ACQUIRE_TIMEOUT_S", "4.5")
    with override_settings(DFLOCK={"LEASE_TTL_S": 7}):
        settings = dj.get_settings()
    assert settings.lease_ttl_s == 7  # from DFLOCK
    assert settings.acquire_timeout_s == 4.5  # not in DFLOCK: from the environment


def test_settings_are_read_on_each_access_so_overrides_apply():
    before = dj.get_settings()
    with override_settings(DFLOCK={"KEY_PREFIX": "other."}):
        assert dj.get_settings().key_prefix == "other."
    assert dj.get_settings().key_prefix == before.key_prefix
    assert dj.get_settings() is dj.get_settings()  # cached while the setting is unchanged


def test_invalid_value_names_the_django_key(monkeypatch):
    monkeypatch.setenv("DFLOCK_CONNECT_TIMEOUT_S", "-3")
    with (
        override_settings(DFLOCK={"LEASE_TTL_S": 0}),
        pytest.raises(ConfigurationError) as caught,
    ):
        dj.get_settings()
    message = str(caught.value)
    assert 'DFLOCK["LEASE_TTL_S"]' in message
    assert "DFLOCK_CONNECT_TIMEOUT_S" in message  # from the environment: named as such


@override_settings(DFLOCK=["127.0.0.1:6388"])
def test_dflock_must_be_a_dict():
    with pytest.raises(ConfigurationError, match="DFLOCK must be a dict"):
        dj.get_settings()


def test_rules_come_from_settings():
    rules = conf.get_rules()
    assert rules[0] == Rule(
        "/mw/orders/{order_id}/", "order:{order_id}", methods=["POST"], acquire_timeout_s=0
    )
    with (
        override_settings(DFLOCK={"RULES": [{"path": "/x/", "key": "k", "limit": 0}]}),
        pytest.raises(ConfigurationError, match=r'DFLOCK\["RULES"\]\[0\]'),
    ):
        conf.get_rules()
    with override_settings(DFLOCK={}):
        assert conf.get_rules() == ()
    rule = Rule("/x/{n}/", "x:{n}", limit=2)
    with override_settings(DFLOCK={"RULES": [rule]}):
        assert conf.get_rules() == (rule,)


def test_one_sync_client_per_settings_and_rebuilt_when_they_change():
    first = dj.get_client()
    assert isinstance(first, SyncDflockClient)
    assert dj.get_client() is first
    with override_settings(DFLOCK={"KEY_PREFIX": "other."}):
        second = dj.get_client()
        assert second is not first
        assert second.settings.key_prefix == "other."
    assert dj.get_client() is not second


async def test_one_async_client_per_loop_and_settings(dflock_site):
    first = dj.get_async_client()
    assert dj.get_async_client() is first
    async with dj.alock("k") as held:
        assert held.key == dflock_site["KEY_PREFIX"] + "k"
    with override_settings(DFLOCK={**dflock_site, "KEY_PREFIX": "other."}):
        second = dj.get_async_client()
        assert second is not first
        async with dj.alock("k") as held:
            assert held.key == "other.k"


def test_async_client_is_closed_with_its_event_loop(settings, dflock_site, dflock_server_factory):
    """Under WSGI each async view runs on a loop of its own; its connections must not leak."""
    server = dflock_server_factory()
    settings.DFLOCK = {**dflock_site, "SERVERS": [server.address]}

    def connections():
        return dj.get_client().stats().connections[server.address]

    assert connections() == 1  # the stats request's own

    async def view():
        async with dj.alock("k"):
            assert connections() == 2  # the lock's connection, pooled after release

    asyncio.run(view())
    eventually_sync(lambda: connections() == 1, what="the loop's client to close its connection")


def test_import_without_django_names_the_extra():
    code = "import sys; sys.modules['django'] = None; import dflock_integrations.django"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "pip install dflock-integrations[django]" in result.stderr
