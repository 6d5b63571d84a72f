"""Testing an app that locks: overrides, the switch, and the real thing."""

# --8<-- [start:app]
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from dflock_integrations import DflockSettings, SyncDflockClient
from dflock_integrations.fastapi import (
    HeldLease,
    SkippedLease,
    dflock_lifespan,
    dflock_lock,
    install_exception_handlers,
)

order_lock = dflock_lock("order:{order_id}")


def create_app(settings: DflockSettings | None = None, *, locking: bool = True) -> FastAPI:
    app = FastAPI(lifespan=dflock_lifespan(settings, enabled=locking))
    install_exception_handlers(app)

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> dict:
        return {"order_id": order_id, "fence": lease.fence}

    return app


# --8<-- [end:app]


# --8<-- [start:tests]
def test_pay_with_the_lock_replaced():
    app = create_app()
    app.dependency_overrides[order_lock] = lambda: SkippedLease("order:7")
    with TestClient(app) as http:
        assert http.post("/orders/7/pay").json() == {"order_id": "7", "fence": None}


def test_pay_with_locking_off():
    with TestClient(create_app(locking=False)) as http:
        assert http.post("/orders/7/pay").json() == {"order_id": "7", "fence": None}


def test_pay_is_refused_while_the_order_is_locked(dflock_settings, dflock_client):
    app = create_app(dflock_settings.replace(acquire_timeout_s=0))
    with TestClient(app) as http, dflock_client.lock("order:7"):
        answer = http.post("/orders/7/pay")
    assert answer.status_code == 423
    assert answer.json()["key"] == "order:7"


# --8<-- [end:tests]


if __name__ == "__main__":
    # What pytest would do with the package's plugin: fixtures from the live test server.
    settings = DflockSettings()  # DFLOCK_SERVERS and DFLOCK_KEY_PREFIX from the environment
    with SyncDflockClient(settings) as dflock_client, dflock_client.lock("order:7"):
        test_pay_with_the_lock_replaced()  # while order:7 is held elsewhere
        test_pay_with_locking_off()
    with SyncDflockClient(settings) as dflock_client:
        test_pay_is_refused_while_the_order_is_locked(settings, dflock_client)
        with TestClient(create_app(settings)) as http:
            fence = http.post("/orders/7/pay").json()["fence"]
        assert isinstance(fence, int), fence
    print("ok")
