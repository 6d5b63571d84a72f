"""The answers to refused requests (423, 429, 5xx), as Starlette responses and handlers."""

from __future__ import annotations

import functools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dflock_integrations._http.answers import ANSWERED, HttpAnswer, refuse


def json_answer(answer: HttpAnswer) -> JSONResponse:
    """The default response for a refusal: the JSON body, its status and Retry-After."""
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def dflock_exception_handler(
    request: Request, exc: Exception, *, retry_after_s: float | None = None
) -> Response:
    """423 for a lock timeout, 429 for a full semaphore or the server's waiter cap, 503 for
    an unreachable server or a refused token, and the rest of `_http.answers`' table."""
    answer = refuse(exc, request.method, request.url.path, retry_after_s=retry_after_s)
    if answer is None:
        raise exc  # registered for another exception class by mistake: not ours to answer
    return json_answer(answer)


def install_exception_handlers(app: Starlette, *, retry_after_s: float | None = None) -> None:
    """Answer every dflock failure that has an HTTP answer with its JSON body.

    `LockTimeout` (423 or 429), `ServerUnavailable`, `AuthenticationError` and
    `ServerError` with its subclasses (429 or 5xx), `ProtocolError`, `SignalsUnsupported`
    and `ConfigurationError`. Not needed for the dependencies and the middleware, which
    answer by themselves; useful for dflock calls in your own endpoints (an emit, say)
    and for the flat JSON body from the dependencies (FastAPI's own handler nests it
    under "detail").

    Call it while building the app. Handlers registered for the same classes, or for a
    subclass (`@app.exception_handler(LockTimeout)`), take precedence.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("install_exception_handlers(app) must run before the app starts")
    handler = functools.partial(dflock_exception_handler, retry_after_s=retry_after_s)
    for exc_class in ANSWERED:
        if exc_class not in app.exception_handlers:
            app.add_exception_handler(exc_class, handler)
