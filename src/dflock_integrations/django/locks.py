"""Locks, semaphores and signals for any Django code: services, commands, signal handlers.

    from dflock_integrations.django import lock, alock

    with lock("invoice:42"):                  # blocking code
        ...
    async with alock("invoice:42"):           # coroutines
        ...

They use the process's shared clients (`clients.get_client()`, one per event loop
for the async ones), configured by `settings.DFLOCK`. Each returns a handle that
is not acquired yet: enter it with `with` / `async with`, or call `acquire()`.
"""

from __future__ import annotations

from typing_extensions import Unpack

from dflock_integrations.client import AsyncLock, AsyncSemaphore, SyncLease
from dflock_integrations.django.clients import get_async_client, get_client
from dflock_integrations.options import LeaseOptions


def lock(key: str, **options: Unpack[LeaseOptions]) -> SyncLease:
    """A lock on `key`; `with lock(key):` raises LockTimeout if not granted in time.

    `acquire_timeout_s` and `lease_ttl_s` default to `DFLOCK`'s.
    """
    return get_client().lock(key, **options)


def semaphore(key: str, *, limit: int, **options: Unpack[LeaseOptions]) -> SyncLease:
    """One of `limit` slots of `key`; every user of a key must agree on `limit`."""
    return get_client().semaphore(key, limit=limit, **options)


def alock(key: str, **options: Unpack[LeaseOptions]) -> AsyncLock:
    """The async twin of `lock()`; call it on the loop that will use it."""
    return get_async_client().lock(key, **options)


def asemaphore(key: str, *, limit: int, **options: Unpack[LeaseOptions]) -> AsyncSemaphore:
    """The async twin of `semaphore()`; call it on the loop that will use it."""
    return get_async_client().semaphore(key, limit=limit, **options)


def emit(channel: str, payload: object) -> int | None:
    """Send a signal (a string as is, anything else as JSON); returns how many got it,
    or None where the transport does not tell (NATS)."""
    return get_client().emit(channel, payload)


async def aemit(channel: str, payload: object) -> int | None:
    """The async twin of `emit()`."""
    return await get_async_client().emit(channel, payload)
