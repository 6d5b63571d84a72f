"""Taking a key for a request while watching the client: the give-up paths."""

import asyncio

import anyio
from fastapi_support import is_free

from dflock_integrations.starlette._waiting import wait_unless_gone

from helpers import eventually


async def test_a_grant_arriving_as_the_scope_is_cancelled_is_given_back(client):
    """Under anyio (Starlette's task groups, Hypercorn) a cancelled scope cancels every
    await again: the clean-up must still run, or the grant stays held and renewed."""
    holder = client.lock("race")
    assert await holder.acquire()
    handle = client.lock("race", acquire_timeout_s=10)
    assert not await handle.enqueue()  # queued behind the holder
    granted_wait = handle.wait

    async def wait_then_cancelled(*args):
        granted = await granted_wait(*args)
        scope.cancel()  # the instant that matters: granted, and cancelled at once
        return granted

    handle.wait = wait_then_cancelled

    async def never_leaves() -> None:
        await asyncio.Event().wait()

    with anyio.CancelScope() as scope:
        await holder.release()  # the grant goes to `handle`
        await wait_unless_gone(handle, never_leaves)
    assert scope.cancelled_caught
    assert not handle.held
    await eventually(lambda: is_free(client, "race"), what="the raced-in grant released")
