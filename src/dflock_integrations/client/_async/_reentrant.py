"""`client.lock(key, reentrant=True)`: a lock the same task (or thread) may take again.

The first entry acquires the lock on the server; nested entries by the same asyncio
task (sync: the same thread) only count, and the lock is released when the outermost
entry leaves. Other tasks and threads, and other processes, queue as for any lock.

`_async/_reentrant.py` is the source; `_sync/_reentrant.py` is generated from it by
`scripts/generate_sync.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from dflock_integrations.client._async._lease import AsyncLock
from dflock_integrations.client._async._runtime import async_current_owner
from dflock_integrations.client._state import Callback
from dflock_integrations.errors import LockTimeout

if TYPE_CHECKING:
    from dflock_integrations.client._async._client import AsyncDflockClient


class AsyncReentrantLock:
    """A lock handle whose nested acquisitions by one owner share one grant."""

    kind = "lock"

    def __init__(self, client: AsyncDflockClient, lock: AsyncLock) -> None:
        self._client = client
        self._lock = lock  # the grant, when this owner is the first to enter
        self._entered: Any = None  # the owner whose entry this handle counts

    def _held_by(self, who: Any) -> list[Any] | None:
        return self._client._reentrant.get((self._lock.key, who))

    @property
    def _grant(self) -> AsyncLock:
        entry = self._held_by(self._entered if self._entered is not None else async_current_owner())
        return entry[0] if entry is not None else self._lock

    async def acquire(self, timeout_s: float | None = None) -> bool:
        who = async_current_owner()
        entry = self._held_by(who)
        if entry is not None and entry[0].held:
            entry[1] += 1
            self._entered = who
            return True
        if not await self._lock.acquire(timeout_s):
            return False
        self._client._reentrant[(self._lock.key, who)] = [self._lock, 1]
        self._entered = who
        return True

    async def release(self, *, wait: bool = False) -> None:
        """Leave one level; the outermost one releases the grant."""
        who, self._entered = self._entered, None
        entry = self._held_by(who)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del self._client._reentrant[(self._lock.key, who)]
            await entry[0].release(wait=wait)

    @property
    def depth(self) -> int:
        """How many entries of the calling owner hold the lock now."""
        entry = self._held_by(async_current_owner())
        return entry[1] if entry is not None else 0

    # The grant's own view, for whichever entry holds it.
    name = property(lambda self: self._lock.name)
    key = property(lambda self: self._lock.key)
    token = property(lambda self: self._grant.token)
    lease = property(lambda self: self._grant.lease)
    fence = property(lambda self: self._grant.fence)
    lost = property(lambda self: self._grant.lost)
    held = property(lambda self: self._grant.held)
    server = property(lambda self: self._grant.server)

    def on_lost(self, callback: Callback) -> Callback:
        return self._grant.on_lost(callback)

    def timeout_error(self, timeout_s: float) -> LockTimeout:
        return self._lock.timeout_error(timeout_s)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._lock.name!r} depth={self.depth}>"

    async def __aenter__(self) -> Self:
        if not await self.acquire():
            raise self.timeout_error(self._lock.acquire_timeout_s)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()
