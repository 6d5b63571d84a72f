"""Async and sync clients sharing one implementation (the sync one runs it on a loop thread)."""

from dflock_integrations.client._async_client import AsyncDflockClient
from dflock_integrations.client._lease import AsyncLease, AsyncLock, AsyncSemaphore
from dflock_integrations.client._signals import AsyncSubscription, Signal
from dflock_integrations.client._stats import Stats
from dflock_integrations.client._sync_client import (
    SyncDflockClient,
    SyncLock,
    SyncSemaphore,
    SyncSubscription,
)
from dflock_integrations.client._sync_lease import SyncLease

__all__ = [
    "AsyncDflockClient",
    "AsyncLease",
    "AsyncLock",
    "AsyncSemaphore",
    "AsyncSubscription",
    "Signal",
    "Stats",
    "SyncDflockClient",
    "SyncLease",
    "SyncLock",
    "SyncSemaphore",
    "SyncSubscription",
]
