"""Connections kept per server, so connect, TLS and auth are paid once per connection."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

from dflock_integrations.client._connection import Connection
from dflock_integrations.errors import ServerUnavailable
from dflock_integrations.settings import ServerAddress

Opener = Callable[[ServerAddress], Awaitable[Connection]]
Verdict = Literal["use", "ping", "drop"]


class IdlePolicy:
    """Whether an idle connection can be used as is, must be pinged first, or dropped.

    The server closes a connection that has sent nothing for its read timeout, so a
    connection idle for a good part of that is pinged first, and one idle almost that
    long is dropped rather than trusted. Shared by the async and sync pools.
    """

    def __init__(self, server_read_timeout_s: float) -> None:
        self.ping_after_s = server_read_timeout_s * 0.4
        self.drop_after_s = server_read_timeout_s * 0.8

    def verdict(self, idle_for_s: float, closed: bool) -> Verdict:
        if closed or idle_for_s >= self.drop_after_s:
            return "drop"
        return "ping" if idle_for_s >= self.ping_after_s else "use"


class ServerPool:
    """Idle connections to one server, checked (see `IdlePolicy`) before they are handed out."""

    def __init__(
        self,
        server: ServerAddress,
        opener: Opener,
        *,
        max_idle: int,
        max_connections: int,
        server_read_timeout_s: float,
        wait_timeout_s: float,
    ) -> None:
        self.server = server
        self._open = opener
        self._max_idle = max_idle
        self._max_connections = max_connections
        self._wait_timeout_s = wait_timeout_s
        self._policy = IdlePolicy(server_read_timeout_s)
        self._idle: deque[Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def checkout(self) -> Connection:
        """A live connection, reused when one is idle and fresh enough."""
        if self._closed:
            raise RuntimeError("the dflock client is closed")
        while self._idle:
            conn = self._idle.pop()  # the most recently used is the likeliest alive
            verdict = self._policy.verdict(conn.idle_for(time.monotonic()), conn.closed)
            if verdict == "drop":
                self.discard(conn)
                continue
            if verdict == "ping":
                try:
                    await conn.ping()
                except asyncio.CancelledError:
                    self.discard(conn)
                    raise
                except Exception:
                    self.discard(conn)
                    continue
            conn.reused = True
            return conn
        return await self._open_new()

    async def _open_new(self) -> Connection:
        try:
            async with asyncio.timeout(self._wait_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise ServerUnavailable(
                f"all {self._max_connections} connections to dflockd at {self.server} are "
                "busy; raise DFLOCK_POOL_MAX_CONNECTIONS",
                server=str(self.server),
            ) from None
        try:
            return await self._open(self.server)
        except BaseException:
            self._slots.release()
            raise

    def checkin(self, conn: Connection) -> None:
        """Hand a connection back after a complete request/answer exchange."""
        if self._closed or conn.closed or len(self._idle) >= self._max_idle:
            self.discard(conn)
        else:
            self._idle.append(conn)

    def discard(self, conn: Connection) -> None:
        """Close a connection that failed, holds unknown state, or is not wanted."""
        conn.close()
        self._slots.release()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self.discard(self._idle.pop())
