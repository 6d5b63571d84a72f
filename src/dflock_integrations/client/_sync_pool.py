"""The blocking twin of `ServerPool`: the same policy, with threads instead of tasks."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from dflock_integrations.client._pool import IdlePolicy
from dflock_integrations.client._sync_connection import SyncConnection
from dflock_integrations.errors import ServerUnavailable
from dflock_integrations.settings import ServerAddress

SyncOpener = Callable[[ServerAddress], SyncConnection]


class SyncServerPool:
    def __init__(
        self,
        server: ServerAddress,
        opener: SyncOpener,
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
        self._idle: deque[SyncConnection] = deque()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._guard = threading.Lock()
        self._closed = False

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    def checkout(self) -> SyncConnection:
        if self._closed:
            raise RuntimeError("the dflock client is closed")
        while True:
            with self._guard:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open_new()
            verdict = self._policy.verdict(conn.idle_for(time.monotonic()), conn.closed)
            if verdict == "drop":
                self.discard(conn)
                continue
            if verdict == "ping":
                try:
                    conn.ping()
                except Exception:
                    self.discard(conn)
                    continue
            conn.reused = True
            return conn

    def _open_new(self) -> SyncConnection:
        if not self._slots.acquire(timeout=self._wait_timeout_s):
            raise ServerUnavailable(
                f"all {self._max_connections} connections to dflockd at {self.server} are "
                "busy; raise DFLOCK_POOL_MAX_CONNECTIONS",
                server=str(self.server),
            )
        try:
            return self._open(self.server)
        except BaseException:
            self._slots.release()
            raise

    def checkin(self, conn: SyncConnection) -> None:
        with self._guard:
            if not self._closed and len(self._idle) < self._max_idle and not conn.closed:
                self._idle.append(conn)
                return
        self.discard(conn)

    def discard(self, conn: SyncConnection) -> None:
        conn.close()
        self._slots.release()

    def close(self) -> None:
        with self._guard:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for conn in idle:
            self.discard(conn)
