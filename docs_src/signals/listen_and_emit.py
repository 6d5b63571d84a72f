"""Two listeners, one queue group, one emitter: who gets which signal."""

import asyncio

from dflock_integrations import AsyncDflockClient


# --8<-- [start:example]
async def main() -> dict[str, list[str]]:
    heard: dict[str, list[str]] = {"audit": [], "worker-1": [], "worker-2": []}

    async with AsyncDflockClient() as dflock:  # DFLOCK_SERVERS, DFLOCK_KEY_PREFIX, ...
        audit = dflock.listen("orders.>")  # every signal under orders.
        worker_1 = dflock.listen("orders.*.paid", group="billing")  # one of the group
        worker_2 = dflock.listen("orders.*.paid", group="billing")
        async with audit, worker_1, worker_2:
            delivered = await dflock.emit("orders.eu.paid", {"order": 42})
            await dflock.emit("orders.eu.created", {"order": 43})

            for name, subscription in (("audit", audit), ("worker-1", worker_1)):
                while (signal := await subscription.get(0.5)) is not None:
                    heard[name].append(f"{signal.channel} {signal.json()['order']}")
            while (signal := await worker_2.get(0.1)) is not None:
                heard["worker-2"].append(f"{signal.channel} {signal.json()['order']}")
    print(f"orders.eu.paid reached {delivered} listeners")
    return heard


# --8<-- [end:example]

if __name__ == "__main__":
    heard = asyncio.run(main())
    print(heard)
    assert heard["audit"] == ["orders.eu.paid 42", "orders.eu.created 43"], heard
    # The group counts once: exactly one of its members got the paid signal.
    assert sorted(heard["worker-1"] + heard["worker-2"]) == ["orders.eu.paid 42"], heard
