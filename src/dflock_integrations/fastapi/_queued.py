"""A request that has to queue for its key: the body is received meanwhile.

The body is received while the request waits, kept for the endpoint, so that a
disconnect is the only message left to notice. A grant does not cut the read short
(that would lose what was received); the read finishes under the lease, which is
renewed. The waiting itself is the HTTP layer's (`dflock_integrations._http.hold`).
"""

from __future__ import annotations

import asyncio

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from dflock_integrations._http.hold import AsyncHandle, Hold
from dflock_integrations.client import AsyncDflockClient

# nginx's "client closed request": the status logged for a request whose client left.
CLIENT_CLOSED_REQUEST = 499


async def take(
    what: Hold, client: AsyncDflockClient, key: str, request: Request, watch_disconnect: bool
) -> AsyncHandle | None:
    """Hold `key` for `request`; None if its client left while queued (nothing is held
    then). Raises LockTimeout when not granted in time."""
    if not watch_disconnect:
        return await what.take(client, key)
    body: asyncio.Future[None] | None = None

    async def client_gone() -> None:  # called only once the request has queued
        nonlocal body
        body = asyncio.ensure_future(_read_body(request))
        await asyncio.shield(body)
        await _disconnected(request)

    try:
        lease = await what.take(client, key, client_gone)
    except BaseException:
        if body is not None:
            body.cancel()
        raise
    if lease is not None and body is not None:
        try:
            await body
        except BaseException:
            with anyio.CancelScope(shield=True):
                await lease.release()  # held, and given up with the request
            raise
    return lease


async def _read_body(request: Request) -> None:
    """Receive the body, kept for the endpoint (`request.body()` caches it).

    FastAPI has usually read it already (body parameters), and a GET has an empty one.
    """
    try:
        await request.body()
    except ClientDisconnect:
        raise left() from None
    except RuntimeError as exc:
        if "consumed" not in str(exc):
            raise
        # "Stream consumed": FastAPI parsed a form; nothing but the disconnect is left.


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def left() -> HTTPException:
    """What a request whose client left gets (nobody reads it; the access log shows 499)."""
    return HTTPException(CLIENT_CLOSED_REQUEST, "the client closed the request")
