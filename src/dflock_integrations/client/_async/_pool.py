"""Connections kept per server, so connect, TLS and auth are paid once per connection.

`_async/_pool.py` is the source; `_sync/_pool.py` is generated from it by
`scripts/generate_sync.py`.
"""

from __future__ import annotations

import time
from collections import deque

from dflock_integrations.client._async._connection import AsyncConnection, AsyncOpener
from dflock_integrations.client._async._runtime import AsyncSlots
from dflock_integrations.client._timing import Deadline
from dflock_integrations.errors import ServerUnavailable
from dflock_integrations.metrics import NO_METRICS, Metrics
from dflock_integrations.settings import ServerAddress

# A connection idle this long (a part of the server's idle limit) may be closed by the
# server any moment: drop it rather than race the server's clock.
DROP_AFTER_RATIO = 0.75


class AsyncPool:
    """Idle connections to one server, the most recently used handed out first."""

    def __init__(
        self,
        server: ServerAddress,
        opener: AsyncOpener,
        *,
        max_idle: int,
        max_connections: int,
        server_read_timeout_s: float,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.server = server
        self._metrics = metrics
        self._open = opener
        self._max_idle = max_idle
        self._max_connections = max_connections
        self._drop_after_s = server_read_timeout_s * DROP_AFTER_RATIO
        self._idle: deque[AsyncConnection] = deque()
        self._slots = AsyncSlots(max_connections)
        self._open_count = 0
        self._closed = False

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def open_count(self) -> int:
        """Connections to this server, idle or in use."""
        return self._open_count

    async def checkout(self, deadline: Deadline) -> AsyncConnection:
        """A live connection: an idle one that is fresh enough, else a new one."""
        if self._closed:
            raise RuntimeError("the dflock client is closed")
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            if time.monotonic() - conn.last_used >= self._drop_after_s or not conn.usable():
                self.discard(conn)
                continue
            conn.reused = True
            return conn
        if not await self._slots.take(deadline.remaining()):
            raise ServerUnavailable(
                f"all {self._max_connections} connections to dflockd at {self.server} are "
                "busy; raise DFLOCK_POOL_MAX_CONNECTIONS",
                server=str(self.server),
            )
        self._open_count += 1
        try:
            conn = await self._open(self.server, deadline)
        except BaseException:
            self._open_count -= 1
            self._slots.give()
            raise
        self._metrics.connections(str(self.server), 1)
        return conn

    def checkin(self, conn: AsyncConnection) -> None:
        """Take back a connection whose requests are all answered or still in order."""
        if self._closed or conn.closed or len(self._idle) >= self._max_idle:
            self.discard(conn)
        else:
            self._idle.append(conn)

    def discard(self, conn: AsyncConnection) -> None:
        """Close a connection that failed, holds unknown state, or is not wanted."""
        conn.close()
        if conn.pooled:  # counted once, however often it is discarded
            conn.pooled = False
            self._open_count -= 1
            self._slots.give()
            self._metrics.connections(str(self.server), -1)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self.discard(self._idle.pop())
