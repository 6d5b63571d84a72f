"""A request that had to queue for its key: wait for the grant unless the client leaves.

The body is received while waiting, kept for the endpoint, so that a disconnect is
the only message left to notice. A grant does not cut the read short (that would
lose what was received); the read finishes under the lease, which is renewed.
"""

from __future__ import annotations

import asyncio

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from dflock_integrations.client import AsyncLease
from dflock_integrations.starlette._waiting import CLIENT_CLOSED_REQUEST, wait_unless_gone


async def wait_for_grant(handle: AsyncLease, request: Request, *, watch_disconnect: bool) -> bool:
    """After an `enqueue()` that queued: True once granted; False if the client left first
    (its place given up). Raises LockTimeout when not granted in time."""
    if not watch_disconnect:
        return await wait_unless_gone(handle, asyncio.get_running_loop().create_future)
    body = asyncio.ensure_future(_read_body(request))

    async def client_gone() -> None:
        await asyncio.shield(body)
        await _disconnected(request)

    try:
        granted = await wait_unless_gone(handle, client_gone)
        if granted:
            await body
        return granted
    except BaseException:
        body.cancel()
        with anyio.CancelScope(shield=True):
            await handle.release()  # held or queued: either way, given up
        raise


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
