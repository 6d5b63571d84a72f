"""The HTTP layer's one hold path: taking a key for a request, giving it up, releasing."""

import asyncio
import logging

import anyio
import pytest

from dflock_integrations import LockTimeout
from dflock_integrations._http import hold
from dflock_integrations._http.hold import Hold, wait_unless_gone

from helpers import eventually


async def is_free(client, key: str) -> bool:
    return (await client.stats()).find(client.settings.key_prefix + key) is None


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


async def test_a_free_key_is_held_at_once_and_released_confirmed(client):
    lease = await hold.acquire(Hold().lease(client, "free"), asyncio.Event().wait)
    assert lease is not None and lease.held
    await hold.release(lease, "GET", "/free")
    assert await is_free(client, "free")  # confirmed: no eventually() needed


async def test_a_client_leaving_while_queued_gives_up_its_place(client):
    holder = client.lock("busy")
    assert await holder.acquire()
    left = asyncio.Event()
    taking = asyncio.ensure_future(hold.acquire(Hold().lease(client, "busy"), left.wait))
    await eventually(
        lambda: _waiters(client, "busy", 1), what="the request queued behind the holder"
    )
    left.set()
    assert await taking is None
    await eventually(lambda: _waiters(client, "busy", 0), what="its place given up")
    await holder.release()


async def test_without_a_watcher_it_waits_up_to_the_timeout(client):
    holder = client.lock("held")
    assert await holder.acquire()
    with pytest.raises(LockTimeout):
        await hold.acquire(Hold(acquire_timeout_s=0.05).lease(client, "held"))
    await holder.release()


async def test_a_lost_lease_is_logged_once_released(client, caplog):
    lease = await hold.acquire(Hold().lease(client, "lost"))
    lease._record_loss("the test says so")
    with caplog.at_level(logging.ERROR, logger="dflock_integrations.http"):
        await hold.release(lease, "POST", "/lost")
    assert "dflock lease on 'lost' was lost while POST /lost ran" in caplog.text


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"limit": 0}, "limit"),
        ({"acquire_timeout_s": -1}, "acquire_timeout_s"),
        ({"lease_ttl_s": 0}, "lease_ttl_s"),
        ({"retry_after_s": float("nan"), "where": "rule '/x'"}, "rule '/x': retry_after_s"),
    ],
)
def test_options_are_checked_once_when_the_hold_is_built(options, words):
    with pytest.raises(ValueError, match=words):
        Hold.checked(**options)


async def _waiters(client, key: str, count: int) -> bool:
    entry = (await client.stats()).find(client.settings.key_prefix + key)
    return (0 if entry is None else entry["waiters"]) == count
