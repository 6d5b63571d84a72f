"""`SyncDflockClient`: the async client's behaviour for blocking code (WSGI, Celery, scripts).

Locks and semaphores do their I/O on the calling thread (`SyncLease`, with one
renewal thread per client), because a lock cycle is the hot path. Signals, stats
and pings run the async client on a private event loop thread (`_portal`): the
listener logic exists once, and those calls are not latency-critical. After
`fork()` the child builds its own connections, threads and loop on first use; it
never touches the parent's sockets, nor a lock a parent thread held at the fork.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from dflock_integrations.client._async_client import AsyncDflockClient
from dflock_integrations.client._base import ClientBase
from dflock_integrations.client._portal import Portal
from dflock_integrations.client._renewer import Renewer
from dflock_integrations.client._signals import AsyncSubscription, Signal
from dflock_integrations.client._stats import Stats
from dflock_integrations.client._sync_connection import SyncConnection, connect_sync
from dflock_integrations.client._sync_lease import SyncLease
from dflock_integrations.client._sync_pool import SyncServerPool
from dflock_integrations.settings import DflockSettings, ServerAddress


class SyncDflockClient(ClientBase["SyncLock", "SyncSemaphore"]):
    """Blocking twin of `AsyncDflockClient`, safe to share between threads."""

    def __init__(self, settings: DflockSettings | None = None, **overrides: Any) -> None:
        super().__init__(settings, overrides)
        self._guard = threading.Lock()
        self._pid = -1
        self._portal: Portal | None = None
        self._client: AsyncDflockClient | None = None
        self._pools: dict[ServerAddress, SyncServerPool] = {}
        self._renewal: Renewer | None = None
        _live_clients.add(self)

    def _check_fork(self) -> None:
        """After fork(), forget the parent's connections, threads and loop (do not close them)."""
        if self._pid != os.getpid():
            with self._guard:
                self._forget_parent()

    def _forget_parent(self) -> None:
        if self._pid != os.getpid():
            self._portal = self._client = self._renewal = None
            self._pools = {}
            self._pid = os.getpid()

    def _runtime(self) -> tuple[Portal, AsyncDflockClient]:
        self._check_fork()
        if self._portal is None or self._client is None:
            with self._guard:
                if self._portal is None or self._client is None:
                    self._portal = Portal()
                    self._client = AsyncDflockClient(self.settings)
        return self._portal, self._client

    def _renewer(self) -> Renewer:
        self._check_fork()
        if self._renewal is None:
            with self._guard:
                if self._renewal is None:
                    self._renewal = Renewer()
        return self._renewal

    def _pool_for(self, key: str) -> SyncServerPool:
        self._check_fork()
        server = self.server_for(key)
        pool = self._pools.get(server)
        if pool is None:
            with self._guard:
                pool = self._pools.get(server)
                if pool is None:
                    pool = self._pools[server] = SyncServerPool(
                        server, self._connect, **self._pool_options()
                    )
        return pool

    def _connect(self, server: ServerAddress) -> SyncConnection:
        return connect_sync(server, self.settings, token=self._token)

    def emit(self, channel: str, payload: object) -> int:
        portal, client = self._runtime()
        return portal.call(client.emit(channel, payload))

    def listen(
        self, pattern: str, *, group: str | None = None, max_queue: int = 10_000
    ) -> SyncSubscription:
        portal, client = self._runtime()
        return SyncSubscription(portal, client.listen(pattern, group=group, max_queue=max_queue))

    def stats(self, *, tolerate_unreachable: bool = False) -> Stats:
        portal, client = self._runtime()
        return portal.call(client.stats(tolerate_unreachable=tolerate_unreachable))

    def ping(self) -> None:
        portal, client = self._runtime()
        portal.call(client.ping())

    def close(self) -> None:
        """Close idle connections and stop the helper threads. Held leases keep theirs."""
        with self._guard:
            portal, client, renewal = self._portal, self._client, self._renewal
            pools, self._pools = self._pools, {}
            self._portal = self._client = self._renewal = None
            if self._pid != os.getpid():
                return  # inherited through fork(): the parent owns these
        for pool in pools.values():
            pool.close()
        if renewal is not None:
            renewal.stop()
        if portal is not None and client is not None:
            portal.call(client.aclose())
            portal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncSubscription:
    """Signals for blocking code: `for signal in sub:` or `sub.get(timeout_s=1)`."""

    def __init__(self, portal: Portal, subscription: AsyncSubscription) -> None:
        self._portal = portal
        self._sub = subscription

    @property
    def dropped(self) -> int:
        return self._sub.dropped

    @property
    def reconnects(self) -> int:
        return self._sub.reconnects

    def start(self) -> Self:
        self._portal.call(self._sub.start())
        return self

    def get(self, timeout_s: float | None = None) -> Signal | None:
        return self._portal.call(self._sub.get(timeout_s))

    def __iter__(self) -> Iterator[Signal]:
        return self

    def __next__(self) -> Signal:
        try:
            return self._portal.call(self._sub.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        self._portal.call(self._sub.aclose())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncLock(SyncLease):
    """An exclusive lock on one key."""

    kind = "lock"


class SyncSemaphore(SyncLease):
    """One of `limit` slots on one key."""

    kind = "semaphore"


SyncDflockClient._lock_class = SyncLock
SyncDflockClient._semaphore_class = SyncSemaphore


_live_clients: weakref.WeakSet[SyncDflockClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A parent thread may have held a client's guard at the instant of fork() (a
    # Celery worker forks a replacement child while its own threads emit); the
    # child's copy of that lock would stay held forever. The child is still
    # single-threaded here, so fresh locks are safe to put in.
    for client in list(_live_clients):
        client._guard = threading.Lock()
        client._forget_parent()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
