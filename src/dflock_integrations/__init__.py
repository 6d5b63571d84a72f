"""dflockd locks, semaphores and signals for FastAPI/Starlette, Django and Celery.

The framework adapters live in their own modules (`dflock_integrations.fastapi`,
`.starlette`, `.django`, `.celery`) and import their framework only there.

Layers, each importing only those before it: the core (`settings`, `errors`, `keys`,
`options`, `_protocol`); the clients (`client/`); readiness (`health`); the embedded
server (`server/`); the command line (`cli/`); what the HTTP adapters share (`_http/`:
answers, rules, the one hold path); one package per framework; test tools (`testing/`).
docs/architecture.md follows a key from each entry point to the wire.
"""

from __future__ import annotations

from dflock_integrations import client
from dflock_integrations.client import *  # noqa: F403  (its __all__, added to ours below)
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
    "AuthenticationError",
    "ConfigurationError",
    "DflockError",
    "DflockSettings",
    "InvalidKeyError",
    "KeyTemplate",
    "LimitMismatchError",
    "LockLostError",
    "LockTimeout",
    "MaxLocksError",
    "MaxWaitersError",
    "ProtocolError",
    "RateLimited",
    "ServerAddress",
    "ServerError",
    "ServerUnavailable",
    "SignalsUnsupported",
]
__all__ += client.__all__  # the clients, their handles, signals and stats
