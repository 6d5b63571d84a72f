"""dflockd locks, semaphores and signals for FastAPI/Starlette, Django and Celery.

The framework adapters live in their own modules (`dflock_integrations.fastapi`,
`.starlette`, `.django`, `.celery`) and import their framework only there.
"""

from __future__ import annotations

from dflock_integrations.client import (
    AsyncDflockClient,
    AsyncLease,
    AsyncLock,
    AsyncMultiLock,
    AsyncSemaphore,
    AsyncSubscription,
    LockMode,
    Rate,
    Signal,
    Stats,
    SyncDflockClient,
    SyncLease,
    SyncMultiLock,
    SyncSubscription,
)
from dflock_integrations.errors import (
    AuthenticationError,
    ConfigurationError,
    DflockError,
    InvalidKeyError,
    LimitMismatchError,
    LockLostError,
    LockTimeout,
    MaxLocksError,
    MaxWaitersError,
    ProtocolError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    SignalsUnsupported,
)
from dflock_integrations.keys import KeyTemplate
from dflock_integrations.settings import DflockSettings, ServerAddress

__all__ = [
    "AsyncDflockClient",
    "AsyncLease",
    "AsyncLock",
    "AsyncMultiLock",
    "AsyncSemaphore",
    "AsyncSubscription",
    "AuthenticationError",
    "ConfigurationError",
    "DflockError",
    "DflockSettings",
    "InvalidKeyError",
    "KeyTemplate",
    "LimitMismatchError",
    "LockLostError",
    "LockMode",
    "LockTimeout",
    "MaxLocksError",
    "MaxWaitersError",
    "ProtocolError",
    "Rate",
    "RateLimited",
    "ServerAddress",
    "ServerError",
    "ServerUnavailable",
    "Signal",
    "SignalsUnsupported",
    "Stats",
    "SyncDflockClient",
    "SyncLease",
    "SyncMultiLock",
    "SyncSubscription",
]
