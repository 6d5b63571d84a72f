"""The async and sync clients: one protocol grammar, one source, two ways to wait.

Layers, from the application down to the wire:

- `AsyncDflockClient` / `SyncDflockClient` (`_async/_client.py`; the sync one is
  generated from it): handles, stats, ping, signals.
- `AsyncLock` / `AsyncSemaphore` (`_async/_lease.py`): acquire, two-phase, release;
  `AsyncMultiLock` (`_async/_multilock.py`): shared and exclusive holds; reentrant locks
  (`_async/_reentrant.py`).
- the router (`_async/_router.py`): which server, redirects, draining, stale connections.
- the pool (`_async/_pool.py`) and the connections (`_async/_connection.py`, an asyncio
  Protocol; `_sync/_connection.py`, a socket used by the calling thread, watched by the
  client's loop while a lease is held).
- the keepers (`_renewals.py`, `_async/_keeper.py`, `_sync/_keeper.py`): renewal and loss.
- `dflock_integrations._protocol`: every request and answer, without I/O.
"""

from dflock_integrations.client._async._client import AsyncDflockClient
from dflock_integrations.client._async._lease import AsyncLease, AsyncLock, AsyncSemaphore
from dflock_integrations.client._async._multilock import AsyncMultiLock, AsyncMultiLockHandle
from dflock_integrations.client._async._reentrant import AsyncReentrantLock
from dflock_integrations.client._modes import LockMode
from dflock_integrations.client._ratelimit import AsyncRateLimiter, Rate, SyncRateLimiter
from dflock_integrations.client._signals import AsyncSubscription, Signal, SyncSubscription
from dflock_integrations.client._stats import Stats
from dflock_integrations.client._sync._client import SyncDflockClient
from dflock_integrations.client._sync._lease import SyncLease, SyncLock, SyncSemaphore
from dflock_integrations.client._sync._multilock import SyncMultiLock, SyncMultiLockHandle
from dflock_integrations.client._sync._reentrant import SyncReentrantLock

__all__ = [
    "AsyncDflockClient",
    "AsyncLease",
    "AsyncLock",
    "AsyncMultiLock",
    "AsyncMultiLockHandle",
    "AsyncRateLimiter",
    "AsyncReentrantLock",
    "AsyncSemaphore",
    "AsyncSubscription",
    "LockMode",
    "Rate",
    "Signal",
    "Stats",
    "SyncDflockClient",
    "SyncLease",
    "SyncLock",
    "SyncMultiLock",
    "SyncMultiLockHandle",
    "SyncRateLimiter",
    "SyncReentrantLock",
    "SyncSemaphore",
    "SyncSubscription",
]
