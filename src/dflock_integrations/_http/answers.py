"""What an HTTP adapter answers when dflock says no; shared by Starlette, FastAPI and Django.

| condition                                  | status | why                                    |
|--------------------------------------------|--------|----------------------------------------|
| lock not granted in time                   | 423    | the resource is locked by another one  |
| semaphore full in time                     | 429    | too many requests share the resource   |
| rate limit reached (`RateLimited`)         | 429    | over budget; Retry-After: the estimate |
| the server's waiter cap                    | 429    | too many requests already wait for it  |
| server unreachable, token refused, key cap | 503    | the lock service cannot serve us now   |
| semaphore limit differs from the key's     | 503    | a deploy in progress; resolves itself  |
| server without signals                     | 501    | a feature this server does not have    |
| unexpected answer from the server          | 502    | the upstream service misbehaved        |
| dflock settings that cannot work           | 500    | this application is misconfigured      |

Bodies are JSON and say what happened without internal detail (no server address, no
token, no key prefix); the 5xx causes are logged with their reason for the operator.
A key or template that is wrong is a bug in the application, not an answer: it raises.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from dflock_integrations import errors
from dflock_integrations.errors import describe

log = logging.getLogger("dflock_integrations.http")

DEFAULT_RETRY_AFTER_S = 1

# Every exception class that gets an answer (for exception handlers to register).
ANSWERED: tuple[type[Exception], ...] = (
    errors.LockTimeout,
    errors.ServerUnavailable,
    errors.AuthenticationError,
    errors.ServerError,  # MaxWaitersError, MaxLocksError, LimitMismatchError and the rest
    errors.ProtocolError,
    errors.SignalsUnsupported,
    errors.ConfigurationError,
)

_UNAVAILABLE = {
    "error": "coordination_unavailable",
    "detail": "the lock service is unavailable; try again later",
}


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def answer_for(exc: BaseException, *, retry_after_s: float | None = None) -> HttpAnswer | None:
    """The JSON answer for a dflock failure, or None for anything else (let it propagate)."""
    retry = {"Retry-After": str(max(1, math.ceil(retry_after_s or DEFAULT_RETRY_AFTER_S)))}
    if isinstance(exc, errors.RateLimited):  # a LockTimeout too: answered before one
        # The limiter's own estimate of when an admission frees beats a fixed default.
        return HttpAnswer(
            429,
            {
                "error": "rate_limited",
                "detail": f"the rate limit of {exc.key!r} is reached; try again later",
                "key": exc.key,
            },
            {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
        )
    if isinstance(exc, errors.LockTimeout):
        if exc.limit is None:
            return HttpAnswer(
                423,
                {
                    "error": "locked",
                    "detail": f"{exc.key!r} is held by another request; try again later",
                    "key": exc.key,
                },
                retry,
            )
        return HttpAnswer(
            429,
            {
                "error": "too_many_concurrent",
                "detail": f"all {exc.limit} slots of {exc.key!r} are in use; try again later",
                "key": exc.key,
                "limit": exc.limit,
            },
            retry,
        )
    if isinstance(exc, errors.MaxWaitersError):
        # The server sheds load on a hot key: the request never joined the queue.
        return HttpAnswer(
            429,
            {
                "error": "too_many_waiting",
                "detail": "too many requests are already waiting for this resource; "
                "try again later",
            },
            retry,
        )
    if isinstance(exc, errors.LimitMismatchError):
        # Old and new deploys disagree on a semaphore's limit: the key keeps the first
        # limit until its holders drain. Server-side and temporary, so a 5xx to retry,
        # not a 409 that blames the client.
        return HttpAnswer(
            503,
            {
                "error": "limit_conflict",
                "detail": "this resource is in use with another concurrency limit; try again later",
            },
            retry,
        )
    if isinstance(
        exc, errors.ServerUnavailable | errors.AuthenticationError | errors.MaxLocksError
    ):
        # A refused token is this application's problem; the client only learns that
        # the service is unavailable (the log says why).
        return HttpAnswer(503, dict(_UNAVAILABLE), retry)
    if isinstance(exc, errors.SignalsUnsupported):
        return HttpAnswer(
            501,
            {
                "error": "signals_unsupported",
                "detail": "the lock service of this application has no signals",
            },
        )
    if isinstance(exc, errors.ServerError | errors.ProtocolError):
        return HttpAnswer(
            502,
            {
                "error": "coordination_error",
                "detail": "the lock service gave an unexpected answer",
            },
        )
    if isinstance(exc, errors.ConfigurationError):
        return HttpAnswer(
            500,
            {
                "error": "coordination_misconfigured",
                "detail": "this application's lock service settings are invalid",
            },
        )
    return None


def refuse(
    exc: BaseException, method: str, path: str, *, retry_after_s: float | None = None
) -> HttpAnswer | None:
    """`answer_for(exc)`, logged when it is a 5xx; None when `exc` is not a refusal (a bad
    key is a bug: let it raise)."""
    answer = answer_for(exc, retry_after_s=retry_after_s)
    if answer is not None:
        log_answer(exc, answer, method, path)
    return answer


def log_answer(exc: BaseException, answer: HttpAnswer, method: str, path: str) -> None:
    """Log why a 5xx went out: its body tells the client nothing internal."""
    if answer.status < 500:
        return
    level = logging.WARNING if isinstance(exc, errors.ServerUnavailable) else logging.ERROR
    log.log(
        level,
        "dflock: %s %s answered %d (%s): %s",
        method,
        path,
        answer.status,
        answer.body["error"],
        describe(exc),
    )
