"""First steps: a lock held while an endpoint runs, and its fence."""

# --8<-- [start:app]
import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI

from dflock_integrations.fastapi import (
    HeldLease,
    dflock_lifespan,
    dflock_lock,
    install_exception_handlers,
)

app = FastAPI(lifespan=dflock_lifespan())  # the client, built from DFLOCK_* variables
install_exception_handlers(app)  # 423 / 429 / 503 when a lock is not granted

orders: dict[str, dict] = {}  # stands in for your database


async def charge_card(order_id: str) -> None:
    await asyncio.sleep(0.01)  # stands in for the payment provider's API


@app.post("/orders/{order_id}/pay")
async def pay(
    order_id: str,
    lease: Annotated[HeldLease, Depends(dflock_lock("order:{order_id}"))],
) -> dict:
    order = orders.setdefault(order_id, {"status": "open"})
    if order["status"] != "open":
        return {"status": order["status"]}  # paid (or cancelled) meanwhile
    await charge_card(order_id)
    order.update(status="paid", fence=lease.fence)
    return {"status": "charged"}


# --8<-- [end:app]

# --8<-- [start:annotated]
order_lock = dflock_lock("order:{order_id}")
OrderLease = Annotated[HeldLease, Depends(order_lock)]


@app.post("/orders/{order_id}/cancel")
async def cancel(order_id: str, lease: OrderLease) -> dict:
    order = orders.setdefault(order_id, {"status": "open"})
    if order["status"] == "open":
        order.update(status="cancelled", fence=lease.fence)
    return {"status": order["status"]}


@app.get("/orders/{order_id}/receipt")
def receipt(order_id: str, lease: OrderLease) -> dict:  # a plain def runs in the thread pool
    return {"order_id": order_id, "fence": lease.fence}


# --8<-- [end:annotated]


if __name__ == "__main__":
    import httpx

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
        ):
            # Ten clicks on "pay" at once: the card is charged exactly once.
            answers = await asyncio.gather(*(http.post("/orders/1/pay") for _ in range(10)))
            assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
            statuses = sorted(a.json()["status"] for a in answers)
            assert statuses == ["charged"] + ["paid"] * 9, statuses

            # Cancel and pay racing on another order: one of them wins, never both.
            racing = await asyncio.gather(http.post("/orders/2/pay"), http.post("/orders/2/cancel"))
            assert [a.status_code for a in racing] == [200, 200], [a.text for a in racing]
            outcome = [a.json()["status"] for a in racing]
            assert outcome in (["charged", "paid"], ["cancelled", "cancelled"]), outcome

            # Fences grow with every grant, in a def endpoint too.
            first = (await http.get("/orders/3/receipt")).json()["fence"]
            second = (await http.get("/orders/3/receipt")).json()["fence"]
            assert isinstance(first, int) and second > first, (first, second)

    asyncio.run(main())
    print("ok")
