"""Signals: emit, listen with wildcards and groups, reconnect, and servers without signals."""

import asyncio

import pytest

from dflock_integrations import AsyncDflockClient, InvalidKeyError, SignalsUnsupported
from dflock_integrations.server import run_in_thread
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually

# Signals exist on dflockd v1.11 to v1.16; the last of those is what these tests meet.
pytestmark = pytest.mark.dflock_compat("1.16")


async def test_emit_and_listen_with_wildcards(client):
    async with client.listen("orders.*.created") as one, client.listen("orders.>") as rest:
        assert await client.emit("orders.eu.created", {"id": 7}) == 2
        assert await client.emit("orders.eu.paid", "plain text") == 1
        first = await one.get(timeout_s=5)
        assert first is not None
        assert first.channel == "orders.eu.created"
        assert first.json() == {"id": 7}
        got = [await rest.get(timeout_s=5) for _ in range(2)]
        assert [s.payload for s in got if s] == ['{"id":7}', "plain text"]
        assert await one.get(timeout_s=0.05) is None


async def test_prefix_isolates_channels(dflock_settings):
    a = AsyncDflockClient(dflock_settings.model_copy(update={"key_prefix": "a."}))
    b = AsyncDflockClient(dflock_settings.model_copy(update={"key_prefix": "b."}))
    async with a.listen("ev.>") as sub:
        assert await b.emit("ev.x", "1") == 0
        assert await a.emit("ev.x", "2") == 1
        got = await sub.get(timeout_s=5)
        assert got is not None
        assert got.channel == "ev.x"


async def test_queue_group_delivers_once(client):
    async with (
        client.listen("jobs.>", group="workers") as w1,
        client.listen("jobs.>", group="workers") as w2,
    ):
        for i in range(10):
            assert await client.emit("jobs.run", str(i)) == 1
        received = []
        for sub in (w1, w2):
            while (sig := await sub.get(timeout_s=0.2)) is not None:
                received.append(int(sig.payload))
        assert sorted(received) == list(range(10))


async def test_closing_removes_listener(client):
    sub = await client.listen("gone.>").start()
    await eventually(lambda: _listeners(client, "gone.>", 1), what="listener registered")
    await sub.aclose()
    await eventually(lambda: _listeners(client, "gone.>", 0), what="listener removed")


async def _listeners(client, pattern, count):
    full = client.settings.key_prefix + pattern
    stats = await client.stats()
    return sum(e["listeners"] for e in stats.signal_channels if e["pattern"] == full) == count


async def test_bounded_queue_counts_drops(client):
    async with client.listen("flood.>", max_queue=5) as sub:
        for i in range(20):
            await client.emit("flood.x", str(i))
        await eventually(lambda: sub.dropped == 15, what="15 drops")
        kept = [await sub.get(timeout_s=1) for _ in range(5)]
        assert [s.payload for s in kept if s] == [str(i) for i in range(15, 20)]


async def test_listener_survives_idle_limit(dflock_server_factory):
    server = dflock_server_factory(read_timeout_s=0.3)
    async with (
        AsyncDflockClient(settings_for(server)) as client,
        client.listen("tick") as sub,
    ):
        await asyncio.sleep(1.0)  # the scenario: three idle limits with no signal
        assert sub.reconnects == 0
        assert await client.emit("tick", "1") == 1
        assert await sub.get(timeout_s=5) is not None


async def test_listener_resubscribes_after_restart(dflock_server_factory):
    server = dflock_server_factory()
    port = server.port
    async with AsyncDflockClient(settings_for(server)) as client:
        sub = await client.listen("svc.>").start()
        try:
            server.stop()
            with run_in_thread(port=port):
                await eventually(lambda: sub.reconnects >= 1, what="listener reconnected")
                assert await client.emit("svc.up", "again") == 1
                got = await sub.get(timeout_s=5)
                assert got is not None
                assert got.payload == "again"
        finally:
            await sub.aclose()


async def test_bad_payloads_and_patterns(client):
    with pytest.raises(ValueError, match="one line"):
        await client.emit("a", "two\nlines")
    with pytest.raises(ValueError, match="blank"):
        await client.emit("a", "  ")
    with pytest.raises(InvalidKeyError, match="wildcards"):
        await client.emit("a.*", "x")
    with pytest.raises(InvalidKeyError, match="last token"):
        client.listen("a.>.b")


@pytest.mark.dflock_compat("1.10", "2.1")
async def test_server_without_signals(client):
    with pytest.raises(SignalsUnsupported, match=r"2\.x"):
        await client.emit("a", "x")
    with pytest.raises(SignalsUnsupported, match="listen"):
        await client.listen("a.>").start()
