"""The app's own lifespan, run inside dflock_lifespan, and the client in an endpoint."""

# --8<-- [start:app]
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from dflock_integrations import AsyncDflockClient
from dflock_integrations.fastapi import dflock_lifespan, get_dflock_client


@asynccontextmanager
async def lifespan(app: FastAPI):
    dflock: AsyncDflockClient = app.state.dflock_client  # built already, usable here
    await dflock.ping()  # refuse to start when no server answers
    yield {"region": "eu-1"}  # merged into the lifespan state: request.state.region
    # shutdown code here runs before the dflock client is closed


app = FastAPI(lifespan=dflock_lifespan(lifespan=lifespan))


@app.post("/orders/{order_id}/shipped")
async def shipped(
    order_id: str,
    request: Request,
    dflock: Annotated[AsyncDflockClient, Depends(get_dflock_client)],
) -> dict:
    delivered = await dflock.emit("orders.shipped", {"order_id": order_id})
    return {"listeners": delivered, "region": request.state.region}


# --8<-- [end:app]


if __name__ == "__main__":
    from fastapi.testclient import TestClient

    from dflock_integrations import SyncDflockClient

    with SyncDflockClient() as watcher, watcher.listen("orders.>") as orders:
        with TestClient(app) as http:  # runs the lifespan: start-up ping included
            answer = http.post("/orders/7/shipped")
            assert answer.json() == {"listeners": 1, "region": "eu-1"}, answer.text
        signal = orders.get(5)
        assert signal is not None and signal.channel == "orders.shipped", signal
        assert signal.json() == {"order_id": "7"}, signal.payload
    print("ok")
