"""What an HTTP adapter answers when dflock says no; shared by FastAPI, Starlette and Django.

| condition                 | status | why                                         |
|---------------------------|--------|---------------------------------------------|
| lock not granted in time  | 423    | the resource is locked by another request   |
| semaphore full in time    | 429    | too many requests share the resource        |
| the server's waiter cap   | 429    | too many requests already wait for the key  |
| server unreachable        | 503    | the coordination service is unavailable     |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dflock_integrations.errors import LockTimeout, MaxWaitersError, ServerUnavailable

DEFAULT_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def answer_for(exc: BaseException, *, retry_after_s: float | None = None) -> HttpAnswer | None:
    """The JSON answer for a dflock failure, or None for anything else (let it propagate)."""
    retry = str(max(1, math.ceil(retry_after_s or DEFAULT_RETRY_AFTER_S)))
    headers = {"Retry-After": retry}
    if isinstance(exc, LockTimeout):
        if exc.limit is None:
            return HttpAnswer(
                423,
                {
                    "error": "locked",
                    "detail": f"{exc.key!r} is held by another request; try again later",
                    "key": exc.key,
                },
                headers,
            )
        return HttpAnswer(
            429,
            {
                "error": "too_many_concurrent",
                "detail": f"all {exc.limit} slots of {exc.key!r} are in use; try again later",
                "key": exc.key,
                "limit": exc.limit,
            },
            headers,
        )
    if isinstance(exc, MaxWaitersError):
        # The server sheds load on a hot key: the request never joined the queue.
        return HttpAnswer(
            429,
            {
                "error": "too_many_waiting",
                "detail": "too many requests are already waiting for this resource; "
                "try again later",
            },
            headers,
        )
    if isinstance(exc, ServerUnavailable):
        # The server's address stays out of the body: it is internal topology.
        return HttpAnswer(
            503,
            {
                "error": "coordination_unavailable",
                "detail": "the lock service is unreachable; try again later",
            },
            headers,
        )
    return None
