"""What a refused request gets, and how to answer differently."""

# --8<-- [start:app]
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dflock_integrations import LockTimeout
from dflock_integrations.fastapi import (
    HeldLease,
    dflock_exception_handler,
    dflock_lifespan,
    dflock_lock,
    dflock_semaphore,
    install_exception_handlers,
)

app = FastAPI(lifespan=dflock_lifespan())
install_exception_handlers(app, retry_after_s=2)  # Retry-After: 2

invoice_lock = dflock_lock("invoice:{number}", acquire_timeout_s=0.5)
pdf_slots = dflock_semaphore("pdf-render", limit=2, acquire_timeout_s=0)  # no waiting


@app.post("/invoices/{number}/send")
async def send_invoice(number: int, lease: Annotated[HeldLease, Depends(invoice_lock)]) -> dict:
    return {"sent": number}


@app.get("/invoices/{number}/pdf")
async def invoice_pdf(number: int, lease: Annotated[HeldLease, Depends(pdf_slots)]) -> dict:
    return {"pdf": number}


# --8<-- [end:app]


# --8<-- [start:custom]
@app.exception_handler(LockTimeout)  # replaces the handler for locks and semaphores
async def busy(request: Request, exc: LockTimeout) -> Response:
    if request.url.path.startswith("/v2/"):
        return JSONResponse({"code": "BUSY", "resource": exc.key}, status_code=409)
    return await dflock_exception_handler(request, exc, retry_after_s=2)  # the default


# --8<-- [end:custom]


@app.post("/v2/invoices/{number}/send")
async def send_invoice_v2(number: int, lease: Annotated[HeldLease, Depends(invoice_lock)]) -> dict:
    return {"sent": number}


if __name__ == "__main__":
    import asyncio
    import os
    import socket

    import httpx

    from dflock_integrations import AsyncDflockClient

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
            AsyncDflockClient() as dflock,  # another process holding the keys
        ):
            assert (await http.post("/invoices/7/send")).json() == {"sent": 7}

            async with dflock.lock("invoice:7"):
                locked = await http.post("/invoices/7/send")
                v2 = await http.post("/v2/invoices/7/send")
            assert locked.status_code == 423, locked.text
            assert locked.headers["retry-after"] == "2"
            body = locked.json()
            assert (body["error"], body["key"]) == ("locked", "invoice:7"), body
            assert "held by another request" in body["detail"], body
            assert (v2.status_code, v2.json()) == (409, {"code": "BUSY", "resource": "invoice:7"})

            async with (
                dflock.semaphore("pdf-render", limit=2),
                dflock.semaphore("pdf-render", limit=2),
            ):
                full = await http.get("/invoices/7/pdf")
            assert full.status_code == 429, full.text
            assert full.headers["retry-after"] == "2"
            body = full.json()
            assert (body["error"], body["key"], body["limit"]) == (
                "too_many_concurrent",
                "pdf-render",
                2,
            ), body

        # Settings are read when the app starts: point it at a port where nothing listens.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        os.environ["DFLOCK_SERVERS"] = f"127.0.0.1:{port}"
        os.environ["DFLOCK_CONNECT_TIMEOUT_S"] = "1"
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
        ):
            down = await http.post("/invoices/7/send", timeout=10)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "2"
        assert down.json()["error"] == "coordination_unavailable", down.text
        assert str(port) not in down.text  # the server's address stays out of the answer

    asyncio.run(main())
    print("ok")
