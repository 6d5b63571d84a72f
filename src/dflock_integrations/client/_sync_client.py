"""`SyncDflockClient`: the async client's behaviour for blocking code (WSGI, Celery, scripts).

Each call runs on a private event loop thread (see `_portal`), so renewal, loss
detection and listeners behave exactly as in the async client. After `fork()` the
child builds its own loop and connections on first use; it never touches the
parent's sockets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self

from dflock_integrations.client._async_client import AsyncDflockClient
from dflock_integrations.client._lease import AsyncLease
from dflock_integrations.client._portal import Portal
from dflock_integrations.client._signals import AsyncSubscription, Signal
from dflock_integrations.client._stats import Stats
from dflock_integrations.settings import DflockSettings


class SyncDflockClient:
    """Blocking twin of `AsyncDflockClient`, safe to share between threads."""

    def __init__(self, settings: DflockSettings | None = None, **overrides: Any) -> None:
        settings = (
            DflockSettings(**overrides) if settings is None else settings.replace(**overrides)
        )
        self.settings = settings
        self._guard = threading.Lock()
        self._pid = -1
        self._portal: Portal | None = None
        self._client: AsyncDflockClient | None = None

    def __repr__(self) -> str:
        servers = ",".join(str(s) for s in self.settings.servers)
        return f"<SyncDflockClient servers={servers} prefix={self.settings.key_prefix!r}>"

    def _runtime(self) -> tuple[Portal, AsyncDflockClient]:
        pid = os.getpid()
        if self._pid != pid or self._portal is None or self._client is None:
            with self._guard:
                if self._pid != pid or self._portal is None or self._client is None:
                    # A forked child inherits the parent's sockets but not its loop thread.
                    self._portal = Portal()
                    self._client = AsyncDflockClient(self.settings)
                    self._pid = pid
        return self._portal, self._client

    def lock(
        self, key: str, *, acquire_timeout_s: float | None = None, lease_ttl_s: int | None = None
    ) -> SyncLease:
        portal, client = self._runtime()
        handle = client.lock(key, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s)
        return SyncLease(portal, handle)

    def semaphore(
        self,
        key: str,
        *,
        limit: int,
        acquire_timeout_s: float | None = None,
        lease_ttl_s: int | None = None,
    ) -> SyncLease:
        portal, client = self._runtime()
        handle = client.semaphore(
            key, limit=limit, acquire_timeout_s=acquire_timeout_s, lease_ttl_s=lease_ttl_s
        )
        return SyncLease(portal, handle)

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
        with self._guard:
            portal, client = self._portal, self._client
            self._portal = self._client = None
            if portal is not None and client is not None and self._pid == os.getpid():
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


class SyncLease:
    """A lock or semaphore slot for blocking code; the same behaviour as `AsyncLease`."""

    def __init__(self, portal: Portal, handle: AsyncLease) -> None:
        self._portal = portal
        self._handle = handle

    name = property(lambda self: self._handle.name)
    key = property(lambda self: self._handle.key)
    kind = property(lambda self: self._handle.kind)
    limit = property(lambda self: self._handle.limit)
    token = property(lambda self: self._handle.token)
    lease = property(lambda self: self._handle.lease)
    fence = property(lambda self: self._handle.fence)
    lost = property(lambda self: self._handle.lost)
    held = property(lambda self: self._handle.held)
    server = property(lambda self: self._handle.server)

    def acquire(self, timeout_s: float | None = None) -> bool:
        return self._portal.call(self._handle.acquire(timeout_s))

    def enqueue(self) -> bool:
        return self._portal.call(self._handle.enqueue())

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._portal.call(self._handle.wait(timeout_s))

    def release(self) -> None:
        self._portal.call(self._handle.release())

    def on_lost(self, callback: Callable[[SyncLease], object]) -> Callable[[SyncLease], object]:
        """Call `callback(handle)` if the lease is lost; it runs on the client's loop thread."""
        self._handle.on_lost(lambda _handle: callback(self))
        return callback

    def __enter__(self) -> Self:
        self._portal.call(self._handle.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._portal.call(self._handle.__aexit__(exc_type, exc, tb))

    def __repr__(self) -> str:
        return repr(self._handle).replace("<Async", "<Sync", 1)


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
