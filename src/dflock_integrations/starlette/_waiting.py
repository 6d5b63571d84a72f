"""Take a lock or semaphore slot for a request, giving up the place if the client leaves.

A request first joins the queue (`enqueue`, one round trip); when granted at once,
which is the uncontended case, nothing else happens. Only a request that has to
wait races the grant against the client's disconnect: if the client goes first, the
wait is cancelled, which closes its connection and so withdraws the waiter on the
server, and a grant that raced in is released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio

from dflock_integrations.client import AsyncLease
from dflock_integrations.errors import LockLostError, describe

log = logging.getLogger("dflock_integrations.starlette")

# nginx's "client closed request": the status logged for a request whose client left.
CLIENT_CLOSED_REQUEST = 499


async def take(handle: AsyncLease, client_gone: Callable[[], Awaitable[object]]) -> bool:
    """Hold `handle`; False if `client_gone()` finished first (nothing is held then).

    Raises LockTimeout when not granted within the handle's acquire timeout, and
    ServerUnavailable when its server cannot be reached.
    """
    return await handle.enqueue() or await wait_unless_gone(handle, client_gone)


async def wait_unless_gone(
    handle: AsyncLease, client_gone: Callable[[], Awaitable[object]]
) -> bool:
    """After an `enqueue()` that queued: wait for the grant, or give up the place if the
    client leaves first (False)."""
    waiting = asyncio.ensure_future(handle.wait())
    watching = asyncio.ensure_future(client_gone())
    keep = False
    try:
        await asyncio.wait((waiting, watching), return_when=asyncio.FIRST_COMPLETED)
        if watching.done():
            watching.result()  # a failure to read the connection is raised, not taken for a leave
            return False
        if not waiting.result():
            raise handle.timeout_error(handle.acquire_timeout_s)
        keep = True
        return True
    finally:
        for task in (waiting, watching):
            task.cancel()  # no effect on a finished task
        # Shielded: under an anyio cancel scope every await here would be cancelled
        # again, and a grant that raced in would stay held (and renewed) for good.
        with anyio.CancelScope(shield=True):
            # A cancelled wait closes its connection (withdrawing the waiter); let it finish.
            await asyncio.wait((waiting, watching))
            if not waiting.cancelled():
                waiting.exception()  # retrieved, so asyncio does not report it as lost
            if not keep:
                await handle.release()  # a grant that came with the leave; else a no-op


async def release(handle: AsyncLease, method: str, path: str) -> None:
    """Release after the request; a lease lost meanwhile is logged, the response stands.

    Waits for the server's answer: the client's next request, which may come the
    moment this response arrives, must never find this lease still held.
    """
    try:
        await handle.release(wait=True)
    except LockLostError as exc:
        log.error(
            "dflock lease on %r was lost while %s %s ran; the response was sent unchanged: %s",
            handle.name,
            method,
            path,
            describe(exc),
        )
