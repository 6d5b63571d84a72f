"""The answers to refused requests (423, 429, 503), as Starlette responses and handlers."""

from __future__ import annotations

import functools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dflock_integrations.errors import LockTimeout, MaxWaitersError, ServerUnavailable
from dflock_integrations.http_answers import HttpAnswer, answer_for


def json_answer(answer: HttpAnswer) -> JSONResponse:
    """The default response for a refusal: the JSON body, its status and Retry-After."""
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def dflock_exception_handler(
    request: Request, exc: Exception, *, retry_after_s: float | None = None
) -> Response:
    """423 for a lock timeout, 429 for a full semaphore or the server's waiter cap, 503 for
    an unreachable server."""
    answer = answer_for(exc, retry_after_s=retry_after_s)
    if answer is None:
        raise exc  # registered for another exception class by mistake: not ours to answer
    return json_answer(answer)


def install_exception_handlers(app: Starlette, *, retry_after_s: float | None = None) -> None:
    """Answer `LockTimeout`, `MaxWaitersError` and `ServerUnavailable` with JSON 423/429/503
    and Retry-After.

    Call it while building the app. Handlers registered later for the same classes
    (`@app.exception_handler(LockTimeout)`) replace these.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("install_exception_handlers(app) must run before the app starts")
    handler = functools.partial(dflock_exception_handler, retry_after_s=retry_after_s)
    app.add_exception_handler(LockTimeout, handler)
    app.add_exception_handler(ServerUnavailable, handler)
    app.add_exception_handler(MaxWaitersError, handler)
