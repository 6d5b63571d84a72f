"""The shortest path: the dependency alone, no lifespan, no exception handlers."""

# --8<-- [start:app]
from typing import Annotated

from fastapi import Depends, FastAPI

from dflock_integrations.fastapi import HeldLease, dflock_lock

app = FastAPI()


@app.post("/orders/{order_id}/pay")
async def pay(
    order_id: str,
    lease: Annotated[HeldLease, Depends(dflock_lock("order:{order_id}", acquire_timeout_s=0))],
) -> dict:
    return {"order_id": order_id, "fence": lease.fence}


# --8<-- [end:app]


if __name__ == "__main__":
    import asyncio

    import httpx

    from dflock_integrations import AsyncDflockClient

    async def main() -> None:
        transport = httpx.ASGITransport(app)  # no lifespan runs: none is needed
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
            AsyncDflockClient() as dflock,  # another process holding the key
        ):
            paid = await http.post("/orders/7/pay")
            assert paid.status_code == 200, paid.text
            assert isinstance(paid.json()["fence"], int), paid.text

            async with dflock.lock("order:7"):
                busy = await http.post("/orders/7/pay")
            assert busy.status_code == 423, busy.text
            assert busy.headers["retry-after"] == "1"
            detail = busy.json()["detail"]  # FastAPI's own handler: the body under "detail"
            assert (detail["error"], detail["key"]) == ("locked", "order:7"), detail

    asyncio.run(main())
    print("ok")
