"""Stats from every server, merged; a dead server reported instead of raised."""

import asyncio
import os
import socket

from dflock_integrations import AsyncDflockClient, ServerUnavailable


# --8<-- [start:stats]
async def who_holds_what(dflock: AsyncDflockClient) -> None:
    stats = await dflock.stats(tolerate_unreachable=True)
    for entry in stats.locks:
        print(entry["server"], entry["key"], entry["waiters"], entry["lease_expires_in_s"])
    for entry in stats.semaphores:
        print(entry["server"], entry["key"], f"{entry['holders']}/{entry['limit']}")
    for server, reason in stats.unreachable.items():
        print(f"{server} did not answer: {reason}")


# --8<-- [end:stats]


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def main() -> None:
    live = os.environ["DFLOCK_SERVERS"]
    async with (
        AsyncDflockClient() as dflock,
        dflock.lock("invoice:7") as lock,
        dflock.semaphore("reports", limit=3) as slot,
    ):
        await who_holds_what(dflock)
        stats = await dflock.stats()
        entry = stats.find(lock.key)  # keys as sent: with the prefix
        assert entry is not None and entry["server"] == live, entry
        assert entry["waiters"] == 0 and 0 < entry["lease_expires_in_s"] <= 30, entry
        entry = stats.find(slot.key)
        assert entry is not None and (entry["holders"], entry["limit"]) == (1, 3), entry
        assert stats.connections[live] >= 1 and stats.unreachable == {}

    dead = closed_address()
    async with AsyncDflockClient(servers=f"{live},{dead}", connect_timeout_s=1) as both:
        try:
            await both.stats()
        except ServerUnavailable as exc:
            error = str(exc)
        else:
            raise AssertionError("a dead server went unnoticed")
        assert dead in error, error
        stats = await both.stats(tolerate_unreachable=True)
        assert list(stats.unreachable) == [dead] and live in stats.connections, stats
        await who_holds_what(both)


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
