"""A rate limit that holds across every process sharing the key."""

import asyncio

from dflock_integrations import AsyncDflockClient, RateLimited


async def main() -> None:
    async with AsyncDflockClient() as dflock:
        # --8<-- [start:rate]
        partner = dflock.rate_limiter("partner-api", "5/s")  # every user agrees on 5/s

        if await partner.try_acquire():  # admitted now, or False: never waits
            ...  # call the partner

        try:
            await partner.acquire(timeout_s=2)  # waits its turn, FIFO, up to 2 s
        except RateLimited as refused:
            print(f"over the limit; try again in {refused.retry_after_s:.1f} s")
        # --8<-- [end:rate]

        admitted = [await partner.try_acquire() for _ in range(10)]
        assert admitted.count(True) <= 5  # five per second, whatever came before


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
