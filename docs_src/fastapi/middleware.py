"""DflockMiddleware: locks and semaphores by URL, on plain Starlette and on FastAPI."""

# --8<-- [start:starlette]
import asyncio

from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from dflock_integrations.fastapi import DflockMiddleware, Rule, dflock_lifespan

orders: dict[str, str] = {}  # stands in for your database: order id -> status


async def pay(request: Request) -> JSONResponse:
    order_id = request.path_params["order_id"]
    lease = request.state.dflock_lease  # the lease the middleware holds
    if orders.get(order_id) == "paid":
        return JSONResponse({"status": "paid"})
    await charge_card(order_id)  # your payment provider
    orders[order_id] = "paid"
    return JSONResponse({"status": "charged", "fence": lease.fence})


async def export(request: Request) -> JSONResponse:
    return JSONResponse({"export": request.path_params["kind"]})


rules = [
    Rule("/orders/{order_id}/pay", key="order:{order_id}", methods={"POST"}),
    Rule("/exports/{kind}", key="exports", limit=2, acquire_timeout_s=0),
]

app = Starlette(
    routes=[
        Route("/orders/{order_id}/pay", pay, methods=["POST"]),
        Route("/exports/{kind}", export),
    ],
    lifespan=dflock_lifespan(),
    middleware=[Middleware(DflockMiddleware, rules=rules)],
)
# --8<-- [end:starlette]

# --8<-- [start:fastapi]
api = FastAPI(lifespan=dflock_lifespan())
api.add_middleware(DflockMiddleware, rules=rules)


@api.post("/orders/{order_id}/pay")
async def api_pay(order_id: str, request: Request) -> dict:
    await charge_card(order_id)
    return {"fence": request.state.dflock_lease.fence}


# --8<-- [end:fastapi]

payments: dict[str, int] = {}  # order id -> times charged, for the checks below
charging = {"now": 0, "peak": 0}


async def charge_card(order_id: str) -> None:
    charging["now"] += 1
    charging["peak"] = max(charging["peak"], charging["now"])
    await asyncio.sleep(0.01)  # a call to the payment provider
    payments[order_id] = payments.get(order_id, 0) + 1
    charging["now"] -= 1


if __name__ == "__main__":
    import httpx

    from dflock_integrations import AsyncDflockClient

    async def main() -> None:
        async with AsyncDflockClient() as dflock:
            for application in (app, api):
                transport = httpx.ASGITransport(application)
                async with (
                    application.router.lifespan_context(application),
                    httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
                ):
                    payments.clear()
                    orders.clear()
                    charging["peak"] = 0
                    answers = await asyncio.gather(*(http.post("/orders/1/pay") for _ in range(10)))
                    assert [a.status_code for a in answers] == [200] * 10
                    if application is app:
                        statuses = sorted(a.json()["status"] for a in answers)
                        assert statuses == ["charged"] + ["paid"] * 9, statuses
                    else:
                        fences = [a.json()["fence"] for a in answers]
                        assert len(set(fences)) == 10, fences  # one grant each, in turn
                    assert payments == {"1": 1 if application is app else 10}, payments
                    assert charging["peak"] == 1, charging  # never two at once

            transport = httpx.ASGITransport(app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
            ):
                assert (await http.get("/exports/csv")).json() == {"export": "csv"}
                async with (
                    dflock.semaphore("exports", limit=2),
                    dflock.semaphore("exports", limit=2),
                ):
                    full = await http.get("/exports/csv")
                assert full.status_code == 429, full.text
                assert full.headers["retry-after"] == "1"
                assert full.json()["error"] == "too_many_concurrent", full.text

    asyncio.run(main())
    print("ok")
