"""FastAPI integration: lock, semaphore, multilock and rate-limit dependencies, plus the
Starlette pieces.

    app = FastAPI(lifespan=dflock_lifespan())   # optional: fail at start-up, close at exit
    order_lock = dflock_lock("order:{order_id}")

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> dict:
        return await charge(order_id, fence=lease.fence)

See docs/fastapi.md.
"""

from __future__ import annotations

import inspect as _inspect

# The framework, or an ImportError naming the extra to install.
from dflock_integrations._extras import fastapi

if "scope" not in _inspect.signature(fastapi.Depends).parameters:  # pragma: no cover
    raise ImportError(
        f"dflock_integrations.fastapi needs FastAPI >= 0.121 (Depends(scope=...)); "
        f"found {fastapi.__version__}: pip install -U 'fastapi>=0.121'"
    )

from dflock_integrations.fastapi._answers import DflockHTTPException, get_dflock_client
from dflock_integrations.fastapi._dependencies import (
    KeySource,
    LeaseDependency,
    dflock_lock,
    dflock_semaphore,
)
from dflock_integrations.fastapi._leases import HeldLease, SkippedLease
from dflock_integrations.fastapi._limits import dflock_multilock, dflock_rate_limit
from dflock_integrations.starlette import (
    DflockMiddleware,
    HttpAnswer,
    Rule,
    SignalStreamResponse,
    channel_event,
    dflock_exception_handler,
    dflock_lifespan,
    dflock_readiness,
    install_exception_handlers,
    json_answer,
    locking_enabled,
)

__all__ = [
    "DflockHTTPException",
    "DflockMiddleware",
    "HeldLease",
    "HttpAnswer",
    "KeySource",
    "LeaseDependency",
    "Rule",
    "SignalStreamResponse",
    "SkippedLease",
    "channel_event",
    "dflock_exception_handler",
    "dflock_lifespan",
    "dflock_lock",
    "dflock_multilock",
    "dflock_rate_limit",
    "dflock_readiness",
    "dflock_semaphore",
    "get_dflock_client",
    "install_exception_handlers",
    "json_answer",
    "locking_enabled",
]
