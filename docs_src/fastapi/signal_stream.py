"""Signals to the browser: Server-Sent Events from SignalStreamResponse."""

# --8<-- [start:app]
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from dflock_integrations import AsyncDflockClient
from dflock_integrations.fastapi import SignalStreamResponse, dflock_lifespan, get_dflock_client

app = FastAPI(lifespan=dflock_lifespan())


@app.get("/events/orders")
async def order_events(request: Request) -> SignalStreamResponse:
    return SignalStreamResponse(request, "orders.>")  # every channel under orders.


@app.post("/orders/{order_id}/pay")
async def pay(
    order_id: str, dflock: Annotated[AsyncDflockClient, Depends(get_dflock_client)]
) -> dict:
    await dflock.emit("orders.paid", {"order_id": order_id})  # from any process
    return {"status": "paid"}


# --8<-- [end:app]


if __name__ == "__main__":
    import asyncio
    import contextlib
    import threading
    import time

    import httpx
    import uvicorn

    DEADLINE_S = 10.0

    @contextlib.contextmanager
    def serve():
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
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

    async def next_event(lines) -> list[str]:
        """The lines of the next event or comment, up to the blank line that ends it."""
        event: list[str] = []
        async for line in lines:
            if line == "" and event:
                return event
            if line:
                event.append(line)
        raise AssertionError(f"the stream ended inside {event}")

    async def main(base: str) -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=DEADLINE_S) as http,
            AsyncDflockClient() as dflock,
        ):
            pattern = dflock.settings.key_prefix + "orders.>"

            async def listeners() -> int:
                channels = (await dflock.stats()).signal_channels
                return sum(c["listeners"] for c in channels if c["pattern"] == pattern)

            async with http.stream("GET", "/events/orders") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                assert await next_event(lines) == [": listening"]  # subscribed from here
                assert (await http.post("/orders/7/pay")).json() == {"status": "paid"}
                event = await next_event(lines)
                assert event == ["event: orders.paid", 'data: {"order_id":"7"}'], event
                assert await listeners() == 1
            # The browser left: its listener is closed at once.
            deadline = time.monotonic() + DEADLINE_S
            while await listeners():
                assert time.monotonic() < deadline, "the listener outlived the stream"
                await asyncio.sleep(0.01)

    with serve() as base:
        asyncio.run(main(base))
    print("ok")
