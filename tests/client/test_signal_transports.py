"""Every signal feature on every transport: dflockd itself, NATS and Redis (DFLOCK_SIGNALS_URL).

The dflockd variant meets the embedded server as v1.16 (the last with signals); the
broker variants meet the machine's NATS and Redis (see tests/brokers.py), or brokers
of their own where a test stops one.
"""

import asyncio
import logging

import pytest

from dflock_integrations import (
    AsyncDflockClient,
    AuthenticationError,
    ServerUnavailable,
    SyncDflockClient,
)
from dflock_integrations.client._signals import payload_room

import brokers
from helpers import eventually, eventually_sync

pytestmark = pytest.mark.dflock_compat("1.16")

TRANSPORTS = ("dflockd", *brokers.KINDS)


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def settings(transport, dflock_settings):
    if transport == "dflockd":
        return dflock_settings
    return dflock_settings.replace(
        signals_url=brokers.shared_url(transport),
        key_prefix=f"r{brokers.RUN}.{dflock_settings.key_prefix}",
    )


def counted(transport: str, receivers: int) -> int | None:
    """What emit returns for `receivers`: NATS does not tell a publisher."""
    return None if transport == "nats" else receivers


async def drain(sub, quiet_s: float = 0.3) -> list[str]:
    """Payloads `sub` receives until it has been quiet for `quiet_s`."""
    got = []
    while (signal := await sub.get(timeout_s=quiet_s)) is not None:
        got.append(signal.payload)
    return got


async def test_emit_and_listen_with_wildcards(transport, settings):
    async with (
        AsyncDflockClient(settings) as client,
        client.listen("orders.*.created") as one,
        client.listen("orders.>") as rest,
    ):
        assert await client.emit("orders.eu.created", {"id": 7}) == counted(transport, 2)
        assert await client.emit("orders.eu.paid", "plain text") == counted(transport, 1)
        assert await client.emit("invoices.eu.paid", "not for us") == counted(transport, 0)
        first = await one.get(timeout_s=5)
        assert first is not None
        assert (first.channel, first.json()) == ("orders.eu.created", {"id": 7})
        assert await drain(rest) == ['{"id":7}', "plain text"]
        assert await drain(one) == []


async def test_patterns_are_exact_even_with_glob_characters(settings):
    """`*` is one token, `>` one or more; `?`, `[` and `\\` are plain text (Redis globs
    would read them as patterns)."""
    patterns = ["g.?", "g.[ab]", "g.*", "g.>", "g.\\", "g.a"]
    channels = ["g.a", "g.?", "g.[ab]", "g.a.b", "g", "g.\\"]
    expected = {
        "g.?": ["g.?"],
        "g.[ab]": ["g.[ab]"],
        "g.*": ["g.a", "g.?", "g.[ab]", "g.\\"],
        "g.>": ["g.a", "g.?", "g.[ab]", "g.a.b", "g.\\"],
        "g.\\": ["g.\\"],
        "g.a": ["g.a"],
    }
    async with AsyncDflockClient(settings) as client:
        subs = {pattern: await client.listen(pattern).start() for pattern in patterns}
        try:
            for channel in channels:
                await client.emit(channel, channel)
            for pattern, sub in subs.items():
                assert await drain(sub) == expected[pattern], pattern
        finally:
            for sub in subs.values():
                await sub.aclose()


async def test_key_prefix_isolates_channels(settings):
    a = AsyncDflockClient(settings.replace(key_prefix=settings.key_prefix + "a."))
    b = AsyncDflockClient(settings.replace(key_prefix=settings.key_prefix + "b."))
    async with a, b, a.listen("ev.>") as sub:
        await b.emit("ev.x", "from b")
        await a.emit("ev.x", "from a")
        got = await sub.get(timeout_s=5)
        assert got is not None
        assert (got.channel, got.payload) == ("ev.x", "from a")
        assert await drain(sub) == []


async def test_a_queue_group_gets_each_signal_once(transport, settings):
    async with (
        AsyncDflockClient(settings) as client,
        client.listen("jobs.>", group="workers") as w1,
        client.listen("jobs.>", group="workers") as w2,
        client.listen("jobs.>", group="audit") as audit,
        client.listen("jobs.>") as everyone,
    ):
        for i in range(20):
            # One per group, and the listener outside any group.
            assert await client.emit("jobs.run", str(i)) == counted(transport, 3)
        workers = await asyncio.gather(drain(w1), drain(w2))
        assert sorted(int(p) for p in workers[0] + workers[1]) == list(range(20))
        assert await drain(audit) == [str(i) for i in range(20)]
        assert await drain(everyone) == [str(i) for i in range(20)]


async def test_a_full_queue_keeps_the_newest(settings):
    async with AsyncDflockClient(settings) as client, client.listen("flood.>", max_queue=5) as sub:
        for i in range(20):
            await client.emit("flood.x", str(i))
        await eventually(lambda: sub.dropped == 15, what="15 signals dropped")
        assert await drain(sub) == [str(i) for i in range(15, 20)]


async def test_the_same_64_kib_line_limit_everywhere(settings):
    """`sig <channel> <payload>` must be shorter than 64 KiB: dflockd's rule, on every transport."""
    room = payload_room(settings.key_prefix + "big")
    assert 65_000 < room < 65_536 - len("sig  big")
    largest = "x" * (room - 4) + "é" * 2  # multi-byte at the very end
    assert len(largest.encode()) == room
    async with AsyncDflockClient(settings) as client, client.listen("big") as sub:
        await client.emit("big", largest)
        got = await sub.get(timeout_s=5)
        assert got is not None
        assert got.payload == largest
        with pytest.raises(ValueError, match=f"at most {room} bytes fit"):
            await client.emit("big", largest + "x")
        with pytest.raises(ValueError, match="one line"):
            await client.emit("big", "two\nlines")


def test_the_sync_client_emits_and_listens_in_groups(transport, settings):
    with (
        SyncDflockClient(settings) as client,
        client.listen("sync.*", group="g") as g1,
        client.listen("sync.*", group="g") as g2,
    ):
        for i in range(6):
            assert client.emit("sync.tick", str(i)) == counted(transport, 1)
        got = []
        eventually_sync(
            lambda: (
                got.extend(
                    s.payload for sub in (g1, g2) if (s := sub.get(timeout_s=0.05)) is not None
                )
                or len(got) == 6
            ),
            what="six signals across the group",
        )
        assert sorted(got) == [str(i) for i in range(6)]
        assert g1.get(timeout_s=0.2) is None
        assert g2.get(timeout_s=0.2) is None


# -- brokers that go away -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", brokers.KINDS)
@pytest.mark.parametrize("group", [None, "g"])
async def test_listeners_subscribe_again_after_a_broker_restart(
    kind, group, broker_process, dflock_settings
):
    broker = broker_process(kind)
    settings = dflock_settings.replace(signals_url=broker.url)
    async with AsyncDflockClient(settings) as client:
        sub = await client.listen("svc.>", group=group).start()
        try:
            await client.emit("svc.before", "1")
            assert (await sub.get(timeout_s=5)).payload == "1"
            broker.stop()

            async def refused() -> bool:
                # NATS publishes into a buffer: only once the loss is known does emit raise.
                try:
                    await client.emit("svc.down", "lost")
                except ServerUnavailable as exc:
                    return ("NATS" if kind == "nats" else "Redis") in str(exc)
                return False

            await eventually(refused, what="emit refused while the broker is down")
            broker.start()
            await eventually(lambda: sub.reconnects >= 1, timeout_s=15, what="listener back")
            await client.emit("svc.up", "again")
            got = await sub.get(timeout_s=5)
            assert got is not None
            assert got.payload == "again"
        finally:
            await sub.aclose()


@pytest.mark.parametrize("kind", brokers.KINDS)
async def test_an_unreachable_broker_is_server_unavailable(kind, dflock_settings):
    url = f"{kind}://127.0.0.1:{brokers.free_port()}"
    async with AsyncDflockClient(dflock_settings.replace(signals_url=url)) as client:
        with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1"):
            await client.emit("a", "x")
        with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1"):
            await client.listen("a.>").start()
    with SyncDflockClient(dflock_settings.replace(signals_url=url)) as client:
        with pytest.raises(ServerUnavailable):
            client.emit("a", "x")
        with pytest.raises(ServerUnavailable):
            client.listen("a.>").start()


@pytest.mark.parametrize("kind", brokers.KINDS)
async def test_secrets_in_the_url_appear_nowhere(kind, broker_process, dflock_settings, caplog):
    secret = "s3cret-Pa55"
    broker = broker_process(kind, password=secret)
    caplog.set_level(logging.DEBUG, logger="dflock_integrations")
    settings = dflock_settings.replace(signals_url=broker.url)
    shown: list[str] = [repr(settings), str(settings.broker_url()), repr(settings.broker_url())]
    async with AsyncDflockClient(settings) as client:
        shown.append(repr(client._broker))
        async with client.listen("s.>") as sub:
            await client.emit("s.x", "1")
            got = await sub.get(timeout_s=5)
            assert got is not None
            shown.append(got.server)
            broker.stop()
            await eventually(
                lambda: any("reconnecting" in r.getMessage() for r in caplog.records),
                what="the loss logged",
            )
            with pytest.raises(ServerUnavailable) as down:
                await client.emit("s.x", "2")
            shown.append(str(down.value))
    wrong = settings.replace(signals_url=broker.url.replace(secret, "wrong-" + secret))
    broker.start()
    async with AsyncDflockClient(wrong) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.emit("s.x", "3")
        shown.append(str(refused.value))
    shown += [record.getMessage() for record in caplog.records]
    assert "***" in shown[1]
    assert not [text for text in shown if secret in text]


@pytest.mark.parametrize("kind", brokers.KINDS)
async def test_a_tls_url_never_talks_in_plain_text(kind, broker_process, dflock_settings):
    secret = "tls-0nly"
    broker = broker_process(kind, password=secret)
    scheme = {"nats": "tls", "redis": "rediss"}[kind]
    url = scheme + broker.url.removeprefix(kind)
    async with AsyncDflockClient(dflock_settings.replace(signals_url=url)) as client:
        with pytest.raises(ServerUnavailable) as refused:
            await client.emit("a", "x")
    assert secret not in str(refused.value)
    if kind == "nats":
        assert "does not require it" in str(refused.value)
