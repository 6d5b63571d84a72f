"""Signals over Redis (redis-py's asyncio client), with exact patterns and queue groups.

Redis pub/sub has neither dflockd's patterns (its globs cannot say "one token") nor
queue groups, so listeners register in a sorted set and `emit` runs one Lua script
(`_redis_lua.py`) that matches the channel against every live registration:

- a plain listener SUBSCRIBEs to the pub/sub channel of its pattern; the script
  PUBLISHes there, and PUBLISH's count is the number of such listeners reached;
- a group has a Stream with one consumer group; the script XADDs each matching
  signal once, and XREADGROUP hands each entry to exactly one member.

`emit` therefore returns an exact count: plain listeners that received the signal,
plus one per group it was stored for. Registrations are kept alive by a heartbeat
and expire `REGISTRATION_TTL_S` after a process stops renewing them.

Delivery: plain listeners at most once, nothing kept (as dflockd and NATS). Groups at
most once per group (entries are read with NOACK), but kept in the group's Stream (up
to `STREAM_MAX_ENTRIES`) while no member reads: a member that reconnects gets what
was sent meanwhile, while the group is registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from dflock_integrations._broker_url import BrokerUrl
from dflock_integrations._extras import require
from dflock_integrations.client._brokers import _redis_lua as lua
from dflock_integrations.client._brokers._backoff import reconnect, stop
from dflock_integrations.client._signals import AsyncSubscription
from dflock_integrations.errors import (
    AuthenticationError,
    DflockError,
    ServerError,
    ServerUnavailable,
)
from dflock_integrations.settings import DflockSettings

# redis-py comes with the [redis] extra; without it, an ImportError that says so.
require("redis", "DFLOCK_SIGNALS_URL=redis://...", "redis-py", "redis")
from redis import exceptions as redis_errors  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from redis.asyncio.client import PubSub  # noqa: E402
from redis.asyncio.retry import Retry  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402

if TYPE_CHECKING:
    from dflock_integrations.client._signals import Feed

log = logging.getLogger("dflock_integrations")

REGISTRATION_TTL_S = 30.0
HEARTBEAT_S = REGISTRATION_TTL_S / 3
STREAM_MAX_ENTRIES = 10_000  # per group, while nobody reads them
# A listener waits this long for a message before it pings, and gives up on a
# broker that has not answered a ping within as long again.
IDLE_PING_S = 5.0
GROUP_BLOCK_MS = 2_000
GROUP_BATCH = 256

_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class RedisBroker:
    def __init__(self, settings: DflockSettings, url: BrokerUrl) -> None:
        self.shown = url.shown
        self._settings = settings
        self._url = url
        timeout = settings.connect_timeout_s
        options: dict[str, Any] = {}
        if url.tls:
            options["ssl_check_hostname"] = True  # redis-py leaves it off by default
        self._redis = Redis.from_url(
            url.urls[0],
            socket_connect_timeout=timeout,
            # Room for a blocking group read on top of the usual answer time.
            socket_timeout=timeout + GROUP_BLOCK_MS / 1000,
            # Failures come to us at once: emit raises, listeners reconnect with backoff.
            retry=Retry(NoBackoff(), 0),
            client_name="dflock-integrations",
            **options,
        )
        self._emit_sha = self._redis.register_script(lua.EMIT).sha
        self._refresh = self._redis.register_script(lua.REFRESH)
        self._join_group = self._redis.register_script(lua.JOIN_GROUP)
        self._leave_group = self._redis.register_script(lua.LEAVE_GROUP)
        self._members: dict[str, int] = {}  # registry member -> listeners of ours using it
        self._heartbeat: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<RedisBroker {self.shown}>"

    async def emit(self, channel: str, body: str) -> int:
        # EVALSHA itself rather than redis-py's Script, which imports and checks for
        # pipelines on every call; failure() maps errors. Lua numbers arrive as ints.
        redis = self._redis
        try:
            receivers: int = await redis.evalsha(
                self._emit_sha, 1, lua.REGISTRY, channel, body, STREAM_MAX_ENTRIES
            )
        except redis_errors.NoScriptError:  # a restarted Redis forgot it
            self._emit_sha = await redis.script_load(lua.EMIT)
            receivers = await redis.evalsha(
                self._emit_sha, 1, lua.REGISTRY, channel, body, STREAM_MAX_ENTRIES
            )
        return receivers

    def feed(self, subscription: AsyncSubscription) -> Feed:
        if subscription.group is None:
            return _PlainFeed(self, subscription)
        return _GroupFeed(self, subscription)

    def failure(self, exc: BaseException) -> Exception:
        """The package's exception for a redis-py one, without the URL's secrets."""
        if isinstance(exc, DflockError):
            return exc
        reason = self._url.scrub(str(exc) or type(exc).__name__)
        if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
            return AuthenticationError(
                f"Redis at {self.shown} refused the credentials of DFLOCK_SIGNALS_URL: {reason}"
            )
        if isinstance(exc, _UNREACHABLE):
            return ServerUnavailable(
                f"Redis at {self.shown} unreachable: {reason}", server=self.shown
            )
        if isinstance(exc, redis_errors.RedisError):
            return ServerError(f"Redis at {self.shown} answered: {reason}")
        return ServerUnavailable(f"Redis at {self.shown}: {reason}", server=self.shown)

    # -- registrations ------------------------------------------------------------------------

    async def register(self, member: str) -> None:
        await self._refresh(keys=[lua.REGISTRY], args=[int(REGISTRATION_TTL_S * 1000), member])
        self._hold(member)

    async def join_group(self, member: str, stream: str, consumer: str) -> None:
        await self._join_group(
            keys=[lua.REGISTRY, stream],
            args=[member, consumer, int(REGISTRATION_TTL_S * 1000)],
        )
        self._hold(member)

    async def leave_group(self, member: str, stream: str, consumer: str) -> None:
        self.release(member)
        await self._leave_group(keys=[lua.REGISTRY, stream], args=[member, consumer])

    def _hold(self, member: str) -> None:
        self._members[member] = self._members.get(member, 0) + 1
        if self._heartbeat is None:
            self._heartbeat = asyncio.ensure_future(self._beat())

    def release(self, member: str) -> None:
        """One listener less on `member`; a plain one's registration simply expires."""
        left = self._members.get(member, 0) - 1
        if left > 0:
            self._members[member] = left
        else:
            self._members.pop(member, None)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if not self._members:
                continue
            try:
                await self._refresh(
                    keys=[lua.REGISTRY],
                    args=[int(REGISTRATION_TTL_S * 1000), *self._members],
                )
            except Exception as exc:
                # The listeners notice a lost broker themselves, and register again.
                log.debug(
                    "dflock signals: heartbeat to Redis at %s failed: %s",
                    self.shown,
                    self._url.scrub(str(exc)),
                )

    # -- life -----------------------------------------------------------------------------------

    def after_fork(self) -> Self:
        return type(self)(self._settings, self._url)

    async def aclose(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        await stop(task)
        with contextlib.suppress(Exception):
            await self._redis.aclose()


class _Feed:
    """What both feeds do: connect, read until the connection fails, connect again."""

    _broker: RedisBroker
    _sub: AsyncSubscription
    _reader: asyncio.Task[None] | None
    _shown_as = "dflock listener"  # how the reconnect warning names this listener

    async def open(self) -> None:
        try:
            await self._connect()
        except Exception as exc:
            raise self._broker.failure(exc) from None
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            try:
                await self._pump()
            except Exception as exc:
                log.warning(
                    "%s: lost Redis at %s (%s); reconnecting",
                    self._shown_as,
                    self._broker.shown,
                    self._broker._url.scrub(str(exc) or type(exc).__name__),
                )
            await self._disconnect()
            await reconnect(self._connect, self._broker.shown)
            self._sub.reconnects += 1

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _pump(self) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError


class _PlainFeed(_Feed):
    """A pub/sub connection of its own, subscribed to its pattern's channel."""

    def __init__(self, broker: RedisBroker, subscription: AsyncSubscription) -> None:
        self._broker = broker
        self._sub = subscription
        self._member = f"p {subscription.pattern}"
        self._channel = lua.PLAIN_CHANNEL + subscription.pattern
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        pubsub = self._broker._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # Registered only once Redis confirmed the SUBSCRIBE: an emit that finds
            # the registration then reaches this listener.
            confirmed = await pubsub.get_message(timeout=self._broker._settings.connect_timeout_s)
            if not confirmed or confirmed["type"] != "subscribe":
                raise redis_errors.TimeoutError("no answer to SUBSCRIBE")
            await self._broker.register(self._member)
        except BaseException:
            with contextlib.suppress(Exception):
                # redis-py 8.1 (the newest on Python 3.10) leaves aclose untyped; 8.2 types it.
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            raise
        self._pubsub = pubsub

    async def _pump(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        deliver, source = self._sub._deliver, self._broker.shown
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=IDLE_PING_S)
            if message is None:
                if pinged:
                    raise redis_errors.TimeoutError(f"no answer to a ping in {IDLE_PING_S:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "message":
                channel, _, payload = message["data"].decode().partition(" ")
                deliver(channel, payload, source)

    async def _disconnect(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            self._broker.release(self._member)
            with contextlib.suppress(Exception):
                # redis-py 8.1 (the newest on Python 3.10) leaves aclose untyped; 8.2 types it.
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        await stop(reader)
        await self._disconnect()


class _GroupFeed(_Feed):
    """A consumer of its group's Stream: each entry goes to one member of the group."""

    def __init__(self, broker: RedisBroker, subscription: AsyncSubscription) -> None:
        assert subscription.group is not None
        self._broker = broker
        self._sub = subscription
        self._member = f"g {subscription.group} {subscription.pattern}"
        self._stream = f"{lua.GROUP_STREAM}{subscription.group} {subscription.pattern}"
        self._consumer = uuid.uuid4().hex
        self._joined = False
        self._reader: asyncio.Task[None] | None = None
        self._shown_as = f"dflock listener (group {subscription.group})"

    async def _connect(self) -> None:
        await self._broker.join_group(self._member, self._stream, self._consumer)
        self._joined = True

    async def _disconnect(self) -> None:
        if self._joined:
            self._joined = False
            self._broker.release(self._member)

    async def _pump(self) -> None:
        redis = self._broker._redis
        deliver, source = self._sub._deliver, self._broker.shown
        streams = {self._stream: ">"}
        while True:
            batches: Any = await redis.xreadgroup(
                lua.CONSUMER_GROUP,
                self._consumer,
                streams,  # type: ignore[arg-type]
                count=GROUP_BATCH,
                block=GROUP_BLOCK_MS,
                noack=True,
            )
            for _stream, entries in batches or ():
                for _id, fields in entries:
                    deliver(fields[b"c"].decode(), fields[b"p"].decode(), source)

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        await stop(reader)
        if self._joined:
            self._joined = False
            with contextlib.suppress(Exception):
                await self._broker.leave_group(self._member, self._stream, self._consumer)
