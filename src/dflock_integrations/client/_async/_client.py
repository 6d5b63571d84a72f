"""The client: pools, locks, semaphores, signals and stats.

`_async/_client.py` is the source; `_sync/_client.py`, for blocking code, is generated
from it by `scripts/generate_sync.py`.
"""

from __future__ import annotations

import functools
from typing import Any

from typing_extensions import Self

from dflock_integrations import _protocol as protocol
from dflock_integrations.client._async._connection import AsyncConnection, open_connection
from dflock_integrations.client._async._keeper import AsyncKeeper
from dflock_integrations.client._async._lease import AsyncLock, AsyncSemaphore
from dflock_integrations.client._async._multilock import AsyncMultiLock
from dflock_integrations.client._async._pool import AsyncPool
from dflock_integrations.client._async._reentrant import AsyncReentrantLock
from dflock_integrations.client._async._router import AsyncRouter
from dflock_integrations.client._async._runtime import async_each
from dflock_integrations.client._base import ClientBase
from dflock_integrations.client._brokers import AsyncBroker, async_broker
from dflock_integrations.client._dflockd_feed import NO_SIGNALS
from dflock_integrations.client._failures import no_answer
from dflock_integrations.client._ratelimit import AsyncRateLimiter
from dflock_integrations.client._signals import (
    SHORT_PAYLOAD_CHARS,
    AsyncSubscription,
    ChannelNames,
    encode_payload,
)
from dflock_integrations.client._stats import Stats
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import (
    ProtocolError,
    ServerUnavailable,
    SignalsUnsupported,
    refusal,
)
from dflock_integrations.keys import check_key
from dflock_integrations.settings import DflockSettings, ServerAddress


class AsyncDflockClient(ClientBase[AsyncLock, AsyncSemaphore, AsyncReentrantLock, AsyncMultiLock]):
    """Talks to one or several dflockd servers: shards, or the members of one cluster.

    Build one per process (for example in an app's lifespan) and close it when done
    (`async with` / `with`, or `aclose()` / `close()`). Safe to share between the
    tasks of one event loop (async) or between threads (sync).
    """

    _lock_class = AsyncLock
    _semaphore_class = AsyncSemaphore
    _reentrant_class = AsyncReentrantLock
    _multilock_class = AsyncMultiLock
    _rate_limiter_class = AsyncRateLimiter

    def __init__(self, settings: DflockSettings | None = None, **overrides: Any) -> None:
        super().__init__(settings, overrides)
        self._pools: dict[ServerAddress, AsyncPool] = {}
        self._router = AsyncRouter(self)
        self._keeper = AsyncKeeper(self)
        self._names = ChannelNames(self.settings.key_prefix)
        # Where signals go: a broker (DFLOCK_SIGNALS_URL), or None for the dflockd servers.
        self._broker: AsyncBroker | None = async_broker(self)

    # -- connections ------------------------------------------------------------------------

    def _pool(self, server: ServerAddress) -> AsyncPool:
        pool = self._pools.get(server)
        if pool is None:
            settings = self.settings
            pool = self._pools.setdefault(
                server,
                AsyncPool(
                    server,
                    self._open,
                    max_idle=settings.pool_max_idle,
                    max_connections=settings.pool_max_connections,
                    server_read_timeout_s=settings.server_read_timeout_s,
                    metrics=self._metrics,
                ),
            )
        return pool

    async def _open(self, server: ServerAddress, deadline: Deadline) -> AsyncConnection:
        """A new connection, authenticated."""
        return await open_connection(
            server,
            tls=self._tls,
            token=self._token,
            connect_timeout_s=self.settings.connect_timeout_s,
            deadline=deadline,
        )

    async def _probe(self, conn: AsyncConnection, probe: list[bytes], deadline: Deadline) -> None:
        """Judge a server's tokens before its first grant is handed out (see _fencing.py)."""
        patience = min(self.settings.connect_timeout_s, max(0.001, deadline.remaining()))
        answers = await conn.exchange_many(probe, protocol.GRANT, patience)
        for release in self._fencing.judge(conn.server, answers):
            conn.send(release, protocol.DONE, _ignore)

    async def aclose(self) -> None:
        """Close idle connections and stop renewing. Held leases keep theirs until released."""
        if self._broker is not None:
            await self._broker.aclose()
        await self._keeper.aclose()
        for pool in self._pools.values():
            pool.close()
        self._pools = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one-shot requests ------------------------------------------------------------------

    async def _ask(self, server: ServerAddress, data: bytes, kind: str) -> protocol.Answer:
        """One request to one server, bounded by the connect timeout; an answer or raise."""
        patience = self.settings.connect_timeout_s
        deadline = Deadline(patience)
        pool = self._pool(server)
        for attempt in (1, 2):
            conn = await pool.checkout(deadline)
            try:
                answer = await conn.exchange(data, kind, max(0.001, deadline.remaining()))
            except TimeoutError:
                pool.discard(conn)
                raise no_answer(str(server), patience) from None
            except ServerUnavailable:
                pool.discard(conn)
                if conn.reused and attempt == 1:
                    continue  # closed while idle in the pool
                raise
            except BaseException:
                pool.discard(conn)
                raise
            pool.checkin(conn)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def stats(self, *, tolerate_unreachable: bool = False) -> Stats:
        """Stats from every server (a cluster: from one member), merged; entries name
        their server. Raises ServerUnavailable naming a server that did not answer,
        unless `tolerate_unreachable`, which lists it in `Stats.unreachable` instead."""
        if self.settings.topology == "cluster":
            servers = self._router.any_order()
            for server in servers:
                try:
                    return Stats.merge({str(server): await self._stats_of(server)}, {})
                except ServerUnavailable as exc:
                    failure = exc
            if tolerate_unreachable:
                return Stats.merge({}, {str(servers[-1]): str(failure)})
            raise failure
        servers = list(self.settings.servers)
        calls = [functools.partial(self._stats_of, server) for server in servers]
        answers: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        for server, result in zip(servers, await async_each(calls), strict=True):
            if isinstance(result, ServerUnavailable) and tolerate_unreachable:
                failures[str(server)] = str(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                answers[str(server)] = result
        return Stats.merge(answers, failures)

    async def _stats_of(self, server: ServerAddress) -> dict[str, Any]:
        answer = await self._ask(server, protocol.STATS, protocol.STATS_KIND)
        if isinstance(answer, protocol.StatsAnswer):
            return answer.data
        raise ProtocolError(f"dflockd at {server} answered {answer!r} to stats")

    async def ping(self) -> None:
        """A round trip to every server; raises ServerUnavailable naming one that fails.

        Servers before v1.14 answer `ping` with `error`: an answer all the same.
        """
        servers = self._router.any_order()[:1] if self._cluster else self.settings.servers
        for server in servers:
            await self.ping_server(server)

    async def ping_server(self, server: ServerAddress) -> None:
        """A round trip to one server, within `connect_timeout_s` (readiness probes use it).

        Raises ServerUnavailable (no connection, or no answer in time) or the refusal
        of the auth token.
        """
        answer = await self._ask(server, protocol.PING, protocol.DONE)
        if isinstance(answer, protocol.Refused) and answer.status != "error":
            raise refusal(answer.status, key="_", server=str(server))

    @property
    def _cluster(self) -> bool:
        return self.settings.topology == "cluster"

    # -- signals: dflockd v1.11 to v1.16, or the broker of DFLOCK_SIGNALS_URL ---------------------

    async def emit(self, channel: str, payload: object) -> int | None:
        """Send a signal; returns how many listeners received it, or None where the
        transport does not tell (NATS). Raises ServerUnavailable when the server or
        broker cannot take it.

        `payload` is sent as is when it is a string, else as compact JSON.
        """
        full = self._names.known.get(channel) or self._names.channel(channel)
        # A short one-line string is sent as is (see encode_payload), checked inline:
        # over NATS an emit costs little more than this.
        if (
            type(payload) is str
            and len(payload) <= SHORT_PAYLOAD_CHARS
            and payload.isprintable()
            and payload.strip(" ")
        ):
            body = payload
        else:
            body = encode_payload(payload, full)
        broker = self._broker
        if broker is not None:
            try:
                return await broker.emit(full, body)
            except Exception as exc:
                raise broker.failure(exc) from None
        patience = self.settings.connect_timeout_s
        try:
            conn, pool, answer = await self._router.exchange(
                full,
                protocol.signal(full, body),
                protocol.SIGNAL_KIND,
                Deadline(patience),
                answer_within=patience,
            )
        except TimeoutError:
            raise no_answer(str(self._router.home(full)), patience) from None
        pool.checkin(conn)
        if isinstance(answer, protocol.Delivered):
            return answer.receivers
        if isinstance(answer, protocol.Refused) and answer.status == "error":
            raise SignalsUnsupported(f"dflockd at {conn.server} refused a signal; {NO_SIGNALS}")
        raise refusal(getattr(answer, "status", "error"), key=full, server=conn.server)

    def listen(
        self, pattern: str, *, group: str | None = None, max_queue: int = 10_000
    ) -> AsyncSubscription:
        """Receive signals whose channel matches `pattern` (`*` one token, `>` the rest).

        Use as `async with client.listen("orders.>") as sub: async for sig in sub:`.
        """
        full = self._names.pattern(pattern)
        if group is not None:
            check_key(group, what="listener group")
        return AsyncSubscription(self, full, group=group, max_queue=max_queue)


def _ignore(outcome: object) -> None:
    """The answer to a request nobody waits for (the probe's releases)."""
