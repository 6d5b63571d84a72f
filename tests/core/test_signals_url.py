"""DFLOCK_SIGNALS_URL: checked at start-up, named in every error, its secrets never shown."""

import sys

import pytest

from dflock_integrations import ConfigurationError, DflockSettings
from dflock_integrations._broker_url import redact

SECRET = "pa55-w0rd"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"http://u:{SECRET}@host", "scheme 'http'"),
        ("127.0.0.1:4222", "needs a scheme"),
        (f"nats://u:{SECRET}@", "no host"),
        (f"redis://:{SECRET}@host:99999/0", "bad port"),
        (f"redis://:{SECRET}@host:port/0", "bad port"),
        (f"redis://:{SECRET}@host/zero", "database number"),
        (f"nats://u:{SECRET}@host/path", "no path"),
        (f"nats://u:{SECRET}@host?x=1", "query"),
        (f"nats://a:4222,redis://:{SECRET}@b", "mixes nats and redis"),
        (f"redis://:{SECRET}@a,redis://b", "several Redis servers"),
        (f"nats://u:{SECRET[:3]},{SECRET[3:]}@host", "comma in a password"),
        (f"nats://u:{SECRET}@host name", "whitespace"),
    ],
)
def test_a_bad_url_fails_at_start_up_naming_the_variable(url, reason, monkeypatch):
    monkeypatch.setenv("DFLOCK_SIGNALS_URL", url)
    with pytest.raises(ConfigurationError) as error:
        DflockSettings()
    message = str(error.value)
    assert "DFLOCK_SIGNALS_URL" in message
    assert reason in message
    assert "expected" in message or "use one" in message or "give one" in message
    assert SECRET not in message
    assert SECRET[3:] not in message


@pytest.mark.parametrize(
    ("url", "kind", "shown"),
    [
        ("nats://127.0.0.1", "nats", "nats://127.0.0.1"),
        (
            f"nats://dflock:{SECRET}@a:4222,nats://b:4223",
            "nats",
            "nats://dflock:***@a:4222,nats://b:4223",
        ),
        (f"tls://{SECRET}@nats.example:4443", "nats", "tls://***@nats.example:4443"),
        (f"redis://:{SECRET}@127.0.0.1:6379/3", "redis", "redis://:***@127.0.0.1:6379/3"),
        (f"rediss://app:{SECRET}@cache.example", "redis", "rediss://app:***@cache.example"),
    ],
)
def test_good_urls_and_how_they_are_shown(url, kind, shown):
    settings = DflockSettings(signals_url=url)
    broker = settings.broker_url()
    assert broker is not None
    assert (broker.kind, broker.shown, str(broker)) == (kind, shown, shown)
    assert SECRET not in repr(settings) + repr(broker)
    if SECRET in url:
        assert broker.scrub(f"error mentioning {SECRET}") == "error mentioning ***"


def test_blank_means_the_dflockd_servers(monkeypatch):
    monkeypatch.setenv("DFLOCK_SIGNALS_URL", "  ")
    settings = DflockSettings()
    assert settings.signals_url is None
    assert settings.broker_url() is None


def test_redact_masks_everything_that_may_be_a_secret():
    assert redact("nats://user:p@ss/w0rd@host:1") == "nats://user:***@host:1"
    assert redact("redis://:x@h/0") == "redis://:***@h/0"
    assert redact("nats://token@h") == "nats://***@h"
    assert redact("nats://h:4222") == "nats://h:4222"


@pytest.mark.parametrize(
    ("url", "module", "extra"), [("nats://h", "nats", "nats"), ("redis://h", "redis", "redis")]
)
def test_a_missing_library_names_the_extra(url, module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(
        ConfigurationError, match=rf"DFLOCK_SIGNALS_URL: .*dflock-integrations\[{extra}\]"
    ):
        DflockSettings(signals_url=url)
