"""Handles: acquire with a timeout, release, two-phase acquisition, FIFO order, limits."""

import asyncio

from dflock_integrations import AsyncDflockClient, LimitMismatchError

log: list[str] = []


async def prepare_batch() -> None:
    log.append("prepared")  # stands in for work done while waiting in line


async def run_batch(fence: int | None) -> None:
    log.append(f"ran with fence {fence}")


# --8<-- [start:calls]
async def nightly_batch(dflock: AsyncDflockClient) -> bool:
    lock = dflock.lock("nightly-batch")  # a handle: nothing sent yet
    if not await lock.acquire(timeout_s=0.5):  # False when not granted in time
        return False
    try:
        await run_batch(lock.fence)
    finally:
        await lock.release()
    return True


async def batch_in_two_phases(dflock: AsyncDflockClient) -> None:
    lock = dflock.lock("nightly-batch")
    if not await lock.enqueue():  # in the queue now, or granted at once
        await prepare_batch()  # useful work while waiting for our turn
        if not await lock.wait(timeout_s=10):
            raise TimeoutError("no turn within 10 s")
    try:
        await run_batch(lock.fence)
    finally:
        await lock.release()


# --8<-- [end:calls]


async def main() -> None:
    async with AsyncDflockClient() as dflock, AsyncDflockClient() as other:
        assert await nightly_batch(dflock) is True
        async with other.lock("nightly-batch"):  # another process holds it
            assert await nightly_batch(dflock) is False

        # Two phases: queued behind the other holder, granted when it releases.
        holder = other.lock("nightly-batch")
        assert await holder.acquire()
        waiting = asyncio.create_task(batch_in_two_phases(dflock))
        await asyncio.sleep(0.2)
        assert log[-1] == "prepared" and not waiting.done(), log
        await holder.release()
        await asyncio.wait_for(waiting, 5)
        assert log[-1].startswith("ran with fence"), log

        # Grants are FIFO per key: waiters are served in the order they asked.
        order: list[int] = []

        async def worker(number: int) -> None:
            async with dflock.lock("fifo", acquire_timeout_s=5):
                order.append(number)
                await asyncio.sleep(0.01)

        first = other.lock("fifo")
        await first.acquire()
        workers = []
        for number in range(5):
            workers.append(asyncio.create_task(worker(number)))
            await asyncio.sleep(0.05)  # each one in line before the next asks
        await first.release()
        await asyncio.gather(*workers)
        assert order == [0, 1, 2, 3, 4], order

        # The users of a semaphore's key must agree on its limit.
        async with dflock.semaphore("exports", limit=3):
            try:
                await other.semaphore("exports", limit=2).acquire(timeout_s=0)
            except LimitMismatchError:
                pass
            else:
                raise AssertionError("a slot with another limit was granted")

        # Cancelling a waiter withdraws it: nothing stays held or queued.
        held = other.lock("cancelled")
        await held.acquire()
        waiter = asyncio.create_task(dflock.lock("cancelled").acquire(timeout_s=30))
        await asyncio.sleep(0.2)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        # release() returns once the release is sent; wait=True returns once the server
        # has freed the key, so another client may take it at once (timeout 0).
        await held.release(wait=True)
        async with dflock.lock("cancelled", acquire_timeout_s=0) as again:
            entry = (await dflock.stats()).find(again.key)
            assert entry is not None and entry["waiters"] == 0, entry


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
