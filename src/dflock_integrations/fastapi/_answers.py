"""dflock failures as HTTP answers in FastAPI, with or without exception handlers installed.

A dependency cannot return a response, only raise. It raises the dflock error itself
when the app has a handler for its class (`install_exception_handlers`, or one of the
app's own), so that handler answers; otherwise a `DflockHTTPException`, which FastAPI's
built-in handler answers with the right status, Retry-After and the JSON body under
`"detail"`. Either way, never a bare 500.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

from fastapi import HTTPException
from fastapi.params import Depends
from starlette.requests import HTTPConnection

from dflock_integrations._http.answers import HttpAnswer, refuse
from dflock_integrations.client import AsyncDflockClient
from dflock_integrations.errors import DflockError
from dflock_integrations.starlette import get_dflock_client as app_client

# Handlers for these catch everything; the app's 500 handler is not an answer to prefer.
_TOO_GENERAL = frozenset({Exception, BaseException, object})


class DflockHTTPException(HTTPException):
    """A dflock failure as the HTTP answer FastAPI gives without any handler installed.

    `status_code` and `headers` (Retry-After) are the answer's, `detail` its JSON body,
    `answer` the `HttpAnswer` and `error` the dflock exception. Register a handler for
    this class (or install `install_exception_handlers`) to answer differently.
    """

    def __init__(self, answer: HttpAnswer, error: DflockError) -> None:
        super().__init__(answer.status, detail=answer.body, headers=answer.headers or None)
        self.answer = answer
        self.error = error


def refusal(
    conn: HTTPConnection, exc: DflockError, *, retry_after_s: float | None = None
) -> Exception:
    """What to raise for `exc`: itself when the app has a handler for it or it has no
    answer (a bad key is a bug), else a `DflockHTTPException`."""
    handlers = getattr(conn.scope.get("app"), "exception_handlers", None) or {}
    if any(cls in handlers for cls in type(exc).__mro__ if cls not in _TOO_GENERAL):
        return exc
    if conn.scope["type"] != "http":
        return exc
    answer = refuse(exc, conn.scope["method"], conn.scope["path"], retry_after_s=retry_after_s)
    return exc if answer is None else DflockHTTPException(answer, exc)


async def _answering_failures(conn: HTTPConnection) -> AsyncIterator[HTTPConnection]:
    """Turns a dflock failure raised by the endpoint into its answer."""
    try:
        yield conn
    except DflockError as exc:
        replacement = refusal(conn, exc)
        if replacement is exc:
            raise
        raise replacement from exc


def get_dflock_client(conn: HTTPConnection) -> AsyncDflockClient:
    """The app's `AsyncDflockClient`; also a FastAPI dependency: `Depends(get_dflock_client)`.

    As a dependency it also answers the endpoint's own dflock failures (an emit to a
    server without signals: 501; an unreachable server: 503) without any handler.
    """
    return app_client(conn)


# What FastAPI reads instead of the parameter above: the same connection, passed
# through a yield-dependency that sees what the endpoint raises.
get_dflock_client.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            "conn",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=Depends(_answering_failures, scope="function"),
        )
    ],
    return_annotation=AsyncDflockClient,
)
