import asyncio

from dflock_integrations import AsyncDflockClient, LockTimeout


async def main() -> None:
    async with AsyncDflockClient() as dflock:  # DFLOCK_* variables, or defaults
        async with dflock.lock("order:42") as lock:
            print("holding order:42 with fence", lock.fence)
            try:  # another worker asking for the same key waits in line, here 0.2 s at most
                async with dflock.lock("order:42", acquire_timeout_s=0.2):
                    raise AssertionError("two holders of one lock")
            except LockTimeout as exc:
                print("the second worker gave up:", exc)
        async with dflock.semaphore("pdf-render", limit=2) as slot:
            print("one of 2 render slots, fence", slot.fence)


asyncio.run(main())
