"""Shared and exclusive holds across processes, and a reentrant lock."""

import asyncio

from dflock_integrations import AsyncDflockClient, LockMode


async def main() -> None:
    async with AsyncDflockClient() as dflock, AsyncDflockClient() as other:
        # --8<-- [start:multilock]
        index = dflock.multilock("search-index", max_shared=8)  # every user agrees on 8

        async with index.shared() as reading:  # many readers at once
            assert reading.mode is LockMode.SHARED
            ...  # read the index

        async with index.exclusive(timeout_s=30):  # the rebuild, alone
            ...  # rebuild it; later readers wait, earlier ones finished first

        reader = await index.acquire_nowait("shared")  # a hold, or None right now
        if reader is not None:
            await reader.release()
        # --8<-- [end:multilock]

        # Two clients stand for two processes: a reader keeps the writer out.
        async with other.multilock("search-index", max_shared=8).shared():
            assert await index.acquire_nowait(LockMode.EXCLUSIVE) is None
            assert await index.mode() is LockMode.SHARED
            assert await index.notify(LockMode.EXCLUSIVE, timeout_s=0.2) is False
        assert await index.notify(LockMode.EXCLUSIVE, timeout_s=5) is True

        # --8<-- [start:reentrant]
        async def save(order_id: int) -> None:
            async with dflock.lock(f"order:{order_id}", reentrant=True):
                ...  # may be called on its own, or from inside `settle`

        async def settle(order_id: int) -> None:
            async with dflock.lock(f"order:{order_id}", reentrant=True) as held:
                await save(order_id)  # the same task enters again: no deadlock
                assert held.held

        # --8<-- [end:reentrant]
        await settle(42)


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
