"""Signals with the async client: a listener and an emitter."""

import asyncio

from dflock_integrations import AsyncDflockClient

received: list[tuple[str, dict]] = []


# --8<-- [start:signals]
async def audit_orders(dflock: AsyncDflockClient) -> None:
    async with dflock.listen("orders.>") as subscription:  # on every server
        async for signal in subscription:
            print(signal.channel, signal.json())
            received.append((signal.channel, signal.json()))


async def order_created(dflock: AsyncDflockClient) -> int:
    return await dflock.emit("orders.eu.created", {"id": 42})  # -> number of receivers


# --8<-- [end:signals]


async def main() -> None:
    async with AsyncDflockClient() as dflock:
        listener = asyncio.create_task(audit_orders(dflock))
        # Nothing is stored: a signal sent before the listener subscribed reaches no one.
        delivered = 0
        for _ in range(100):
            if (delivered := await order_created(dflock)) == 1:
                break
            await asyncio.sleep(0.02)
        assert delivered == 1, delivered
        await dflock.emit("invoices.eu.created", {"id": 7})  # another channel: not heard
        async with dflock.listen("orders.*.paid", group="billing") as worker:
            # A queue group of one member: it gets each signal once.
            assert await dflock.emit("orders.us.paid", {"id": 43}) == 2
            signal = await worker.get(5)
            assert signal is not None and signal.json() == {"id": 43}
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.02)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert received[0] == ("orders.eu.created", {"id": 42}), received
    assert all(channel.startswith("orders.") for channel, _ in received), received


if __name__ == "__main__":
    asyncio.run(main())
    print("ok")
