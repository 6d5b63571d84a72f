"""Starlette integration: client life cycle, failure answers, middleware and signal streams.

    app = Starlette(
        routes=routes,
        lifespan=dflock_lifespan(),
        middleware=[Middleware(DflockMiddleware, rules=[Rule("/orders/{id}", "order:{id}")])],
    )

FastAPI users import the same names (and the dependencies) from
`dflock_integrations.fastapi`. See docs/fastapi.md.
"""

from __future__ import annotations

# The framework, or an ImportError naming the extra to install.
from dflock_integrations._extras import starlette  # noqa: F401
from dflock_integrations._http.answers import HttpAnswer
from dflock_integrations._http.rules import Rule
from dflock_integrations.starlette._answers import (
    dflock_exception_handler,
    install_exception_handlers,
    json_answer,
)
from dflock_integrations.starlette._health import dflock_readiness
from dflock_integrations.starlette._lifespan import dflock_lifespan
from dflock_integrations.starlette._middleware import DflockMiddleware
from dflock_integrations.starlette._sse import SignalStreamResponse, channel_event
from dflock_integrations.starlette._state import get_dflock_client, locking_enabled

__all__ = [
    "DflockMiddleware",
    "HttpAnswer",
    "Rule",
    "SignalStreamResponse",
    "channel_event",
    "dflock_exception_handler",
    "dflock_lifespan",
    "dflock_readiness",
    "get_dflock_client",
    "install_exception_handlers",
    "json_answer",
    "locking_enabled",
]
