"""`AsyncDflockClient`: pools, locks, semaphores, signals and stats for asyncio code."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

import dflockd_client
from dflockd_client import _protocol as proto

from dflock_integrations.client._base import ClientBase
from dflock_integrations.client._connection import Connection, connect, unavailable
from dflock_integrations.client._lease import AsyncLock, AsyncSemaphore
from dflock_integrations.client._pool import ServerPool
from dflock_integrations.client._signals import AsyncSubscription, encode_payload
from dflock_integrations.client._stats import Stats
from dflock_integrations.errors import ProtocolError, ServerUnavailable, SignalsUnsupported
from dflock_integrations.keys import check_channel, check_key
from dflock_integrations.settings import DflockSettings, ServerAddress


class AsyncDflockClient(ClientBase[AsyncLock, AsyncSemaphore]):
    """Talks to one or several dflockd servers; keys are sharded by CRC-32 as dflockd-client does.

    Build one per process (for example in an app's lifespan) and close it with
    `await client.aclose()` or `async with`.
    """

    _lock_class = AsyncLock
    _semaphore_class = AsyncSemaphore

    def __init__(self, settings: DflockSettings | None = None, **overrides: Any) -> None:
        super().__init__(settings, overrides)
        self._pools: dict[ServerAddress, ServerPool] = {}

    # -- connections -------------------------------------------------------------

    def _pool_for(self, key: str) -> ServerPool:
        return self._pool_for_server(self.server_for(key))

    def _pool_for_server(self, server: ServerAddress) -> ServerPool:
        pool = self._pools.get(server)
        if pool is None:
            pool = self._pools[server] = ServerPool(server, self._connect, **self._pool_options())
        return pool

    async def _connect(self, server: ServerAddress) -> Connection:
        return await connect(server, self.settings, token=self._token)

    async def aclose(self) -> None:
        """Close idle connections. Held leases keep theirs until released."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- locks and semaphores ----------------------------------------------------------

    # -- one-shot requests over a pooled connection ----------------------------------------

    async def _request(self, pool: ServerPool, cmd: str, key: str, arg: str) -> str:
        conn = await pool.checkout()
        try:
            answer = await conn.wire.command(cmd, key, arg, read_timeout=self._io_timeout)
        except BaseException as exc:
            pool.discard(conn)
            if isinstance(exc, OSError | EOFError | TimeoutError):
                raise unavailable(pool.server, exc) from None
            raise
        conn.touch()
        pool.checkin(conn)
        return answer

    @property
    def _io_timeout(self) -> float:
        return self.settings.connect_timeout_s + 5.0

    async def stats(self, *, tolerate_unreachable: bool = False) -> Stats:
        """Stats from every server, merged; raises ServerUnavailable naming a dead server."""
        servers = self.settings.servers
        results = await asyncio.gather(
            *(self._stats_of(server) for server in servers), return_exceptions=True
        )
        answers: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, ServerUnavailable) and tolerate_unreachable:
                failures[str(server)] = str(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                answers[str(server)] = result
        return Stats.merge(answers, failures)

    async def _stats_of(self, server: ServerAddress) -> dict[str, Any]:
        pool = self._pool_for_server(server)
        answer = await self._request(pool, "stats", "_", "_")
        try:
            return dict(proto.parse_stats_response(answer))
        except (RuntimeError, dflockd_client.DflockdError) as exc:
            raise ProtocolError(f"unexpected stats answer from {server}: {exc}") from None

    async def ping(self) -> None:
        """One round trip to every server; raises ServerUnavailable naming a dead one."""
        for server in self.settings.servers:
            await self._request(self._pool_for_server(server), "ping", "_", "")

    # -- signals -----------------------------------------------------------------

    async def emit(self, channel: str, payload: object) -> int:
        """Send a signal; returns how many listeners it was delivered to.

        `payload` is sent as is when it is a string, else as compact JSON.
        """
        full = check_channel(self.settings.key_prefix + check_channel(channel))
        body = encode_payload(payload)
        pool = self._pool_for(full)
        answer = await self._request(pool, "signal", full, body)
        head, _, count = answer.partition(" ")
        if head == "ok" and count.isdigit():
            return int(count)
        if answer == "error":
            raise SignalsUnsupported(
                f"dflockd at {pool.server} refused a signal; servers before v1.11 and "
                "dflockd 2.x have no signals"
            )
        raise ProtocolError(f"unexpected answer to signal from {pool.server}: {answer!r}")

    def listen(
        self, pattern: str, *, group: str | None = None, max_queue: int = 10_000
    ) -> AsyncSubscription:
        """Receive signals whose channel matches `pattern` (`*` one token, `>` the rest).

        Use as `async with client.listen("orders.>") as sub: async for sig in sub:`.
        """
        full = check_channel(
            self.settings.key_prefix + check_channel(pattern, pattern=True), pattern=True
        )
        if group is not None:
            check_key(group, what="listener group")
        return AsyncSubscription(self, full, group=group, max_queue=max_queue)
