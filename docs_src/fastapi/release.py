"""When the lease ends: before the response by default, after the streamed body on request."""

# --8<-- [start:default]
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

from dflock_integrations.fastapi import (
    HeldLease,
    dflock_lifespan,
    dflock_lock,
    install_exception_handlers,
)

app = FastAPI(lifespan=dflock_lifespan())
install_exception_handlers(app)
log = logging.getLogger("shop.reports")

draft_lock = dflock_lock("draft:{draft_id}", acquire_timeout_s=0)  # never wait


@app.put("/drafts/{draft_id}")
async def save_draft(draft_id: str, lease: Annotated[HeldLease, Depends(draft_lock)]) -> dict:
    return {"saved": draft_id}  # released here, before the response is sent


# --8<-- [end:default]


# --8<-- [start:stream]
report_lock = dflock_lock("report:{name}", acquire_timeout_s=30, hold_for_stream=True)


@app.get("/reports/{name}.csv")
async def report(name: str, lease: Annotated[HeldLease, Depends(report_lock)]):
    log.info("building report %s", name)

    async def rows():
        for n in range(3):
            yield f"{n},{lease.held}\n"  # still held while the body streams

    return StreamingResponse(rows(), media_type="text/csv")


# --8<-- [end:stream]


# --8<-- [start:upload]
upload_lock = dflock_lock("upload:{name}", watch_disconnect=False)


@app.put("/uploads/{name}")
async def upload(
    name: str, request: Request, lease: Annotated[HeldLease, Depends(upload_lock)]
) -> dict:
    size = 0
    async for chunk in request.stream():  # read here, never buffered up front
        size += len(chunk)
    return {"bytes": size}


# --8<-- [end:upload]


if __name__ == "__main__":
    import asyncio
    import contextlib
    import threading
    import time

    import httpx
    import uvicorn

    from dflock_integrations import AsyncDflockClient

    DEADLINE_S = 10.0

    class Started(logging.Handler):
        names: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.names.append(record.args[0])

    log.addHandler(Started())
    log.setLevel(logging.INFO)

    @contextlib.contextmanager
    def serve():
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(DEADLINE_S)

    async def until(check, what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not await check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)

    async def main(base: str) -> None:
        async with httpx.AsyncClient(base_url=base) as http, AsyncDflockClient() as dflock:
            prefix = dflock.settings.key_prefix

            async def entry(key: str) -> dict | None:
                return (await dflock.stats()).find(prefix + key)

            async def is_free(key: str) -> bool:
                return await entry(key) is None

            async def waiting(key: str, count: int) -> bool:
                found = await entry(key)
                return (0 if found is None else found["waiters"]) == count

            # One client saving in a loop never meets its own previous lock.
            for _ in range(20):
                answer = await http.put("/drafts/d1")
                assert answer.status_code == 200, answer.text

            # The lease covers the streamed body, and is released once it is sent.
            answer = await http.get("/reports/q3.csv")
            assert answer.text == "0,True\n1,True\n2,True\n", answer.text
            await until(lambda: is_free("report:q3"), "the report lock released")

            # A client that leaves while queued gives up its place; the endpoint never runs.
            async with dflock.lock("report:q4"):
                _, writer = await asyncio.open_connection("127.0.0.1", httpx.URL(base).port)
                writer.write(b"GET /reports/q4.csv HTTP/1.1\r\nHost: shop\r\n\r\n")
                await writer.drain()
                await until(lambda: waiting("report:q4", 1), "the request queued")
                writer.close()
                await until(lambda: waiting("report:q4", 0), "the waiter withdrawn")
            assert Started.names == ["q3"], Started.names  # q4's endpoint never ran

            # watch_disconnect=False: the endpoint reads the body itself.
            answer = await http.put("/uploads/u1", content=b"x" * 100_000)
            assert answer.json() == {"bytes": 100_000}, answer.text

    with serve() as base:
        asyncio.run(main(base))
    print("ok")
