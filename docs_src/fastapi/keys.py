"""Where a key's fields come from: the path, the query string, or a function of the request."""

# --8<-- [start:fields]
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from dflock_integrations import KeyTemplate
from dflock_integrations.fastapi import (
    HeldLease,
    dflock_lifespan,
    dflock_lock,
    dflock_semaphore,
    install_exception_handlers,
)

app = FastAPI(lifespan=dflock_lifespan())
install_exception_handlers(app)

# {warehouse} comes from the path, {sku} from the query string.
stock_lock = dflock_lock("stock:{warehouse}:{sku}")


@app.put("/warehouses/{warehouse}/stock")
async def set_stock(
    warehouse: str, sku: str, count: int, lease: Annotated[HeldLease, Depends(stock_lock)]
) -> dict:
    return {"key": lease.name}


# --8<-- [end:fields]


# --8<-- [start:function]
ACCOUNT_KEY = KeyTemplate("exports:{account}")  # encodes the value, like a dependency's


def account_key(request: Request) -> str:  # may also be async def
    return ACCOUNT_KEY.render({"account": request.headers.get("x-account", "anonymous")})


exports = dflock_semaphore(account_key, limit=2)  # two exports per account at a time


@app.post("/exports")
async def export(lease: Annotated[HeldLease, Depends(exports)]) -> dict:
    return {"key": lease.name, "limit": lease.limit}


# --8<-- [end:function]


if __name__ == "__main__":
    import asyncio

    import httpx

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
        ):
            answer = await http.put("/warehouses/berlin/stock", params={"sku": "A 1/x", "count": 3})
            assert answer.json() == {"key": "stock:berlin:A%201%2Fx"}, answer.text

            missing = await http.put("/warehouses/berlin/stock", params={"count": 3})
            assert missing.status_code == 422, missing.text
            assert ["query", "sku"] in [e["loc"] for e in missing.json()["detail"]]

            answer = await http.post("/exports", headers={"x-account": "acme corp"})
            assert answer.json() == {"key": "exports:acme%20corp", "limit": 2}, answer.text

    asyncio.run(main())
    print("ok")
