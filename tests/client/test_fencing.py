"""Fences only when real: the probe, the verdicts, and never a lower fence for a key."""

from __future__ import annotations

import secrets
import time

import pytest

from dflock_integrations import AsyncDflockClient, ConfigurationError
from dflock_integrations import _protocol as protocol
from dflock_integrations.client._fencing import PROBE_GRANTS, Fencing, plausible_fence

from helpers import eventually

pytestmark = pytest.mark.dflock_compat("1.10", "2.1")


def fenced(value: int) -> str:
    return f"{value:016x}{secrets.token_hex(8)}"


def judged(mode: str, tokens: list[str]) -> Fencing:
    fencing = Fencing(mode, cluster=False, key_prefix="")
    assert len(fencing.start_probe("a:1")) == PROBE_GRANTS
    fencing.judge("a:1", [protocol.Granted(t, 5) for t in tokens])
    return fencing


NOW = time.time_ns()


def test_rising_clock_seeded_tokens_are_fences():
    fencing = judged("auto", [fenced(NOW + i) for i in range(4)])
    assert fencing.fence("a:1", "k", fenced(NOW + 10), exclusive=True) == NOW + 10


def test_a_cluster_counter_from_one_is_fences():
    fencing = judged("auto", [fenced(i) for i in range(1, 5)])
    assert fencing.fence("a:1", "k", fenced(9), exclusive=True) == 9


def test_random_tokens_are_not():
    fencing = judged("auto", [secrets.token_hex(16) for _ in range(4)])
    assert fencing.fence("a:1", "k", fenced(NOW), exclusive=True) is None


def test_no_fence_before_the_probe_has_judged():
    fencing = Fencing("auto", cluster=False, key_prefix="")
    assert fencing.fence("a:1", "k", fenced(NOW), exclusive=True) is None


def test_a_lock_never_gets_a_lower_fence_than_before(caplog):
    fencing = judged("auto", [fenced(NOW + i) for i in range(4)])
    assert fencing.fence("a:1", "k", fenced(NOW + 100), exclusive=True) == NOW + 100
    # The server restarted with its clock set back, or the key moved to another shard.
    assert fencing.fence("a:1", "k", fenced(NOW + 50), exclusive=True) is None
    assert "went down" in caplog.text
    assert fencing.fence("a:1", "other", fenced(NOW + 50), exclusive=True) == NOW + 50
    # Semaphore slots overlap, so theirs need not rise per key.
    assert fencing.fence("a:1", "k", fenced(NOW + 60), exclusive=False) == NOW + 60


def test_a_token_without_a_fence_after_the_verdict_pauses_fences():
    fencing = judged("auto", [fenced(NOW + i) for i in range(4)])
    assert fencing.fence("a:1", "k", "f" * 32, exclusive=True) is None
    assert fencing.start_probe("a:1")  # judged again on the next new connection


def test_plausibility():
    assert plausible_fence(fenced(NOW)) == NOW
    assert plausible_fence(fenced(1)) == 1
    assert plausible_fence("f" * 32) is None  # beyond the clock
    assert plausible_fence("zz" * 16) is None
    assert plausible_fence("ab") is None


def test_off_never_and_on_requires():
    assert Fencing("off", cluster=False, key_prefix="").start_probe("a:1") == []
    strict = judged("on", [secrets.token_hex(16) for _ in range(4)])
    with pytest.raises(ConfigurationError, match="DFLOCK_FENCING=on"):
        strict.fence("a:1", "k", secrets.token_hex(16), exclusive=True)


async def test_on_a_real_server(dflock_settings, dflock_compat):
    async with AsyncDflockClient(dflock_settings, fencing="on") as client:
        if dflock_compat == "1.10":
            with pytest.raises(ConfigurationError, match="issues tokens without fences"):
                await client.lock("k").acquire()
            # Given back at once; a real server may read the release a moment later.
            await eventually(lambda: _free(client, "k"), what="the unwanted grant given back")
        else:
            async with client.lock("k") as lock:
                assert lock.fence is not None
    async with (
        AsyncDflockClient(dflock_settings, fencing="off") as client,
        client.lock("k") as lock,
    ):
        assert lock.fence is None


async def _free(client, name):
    return (await client.stats()).find(client.settings.key_prefix + name) is None
