"""SignalStreamResponse: signals reach the browser as Server-Sent Events; listeners go with it."""

import pytest
from fastapi import FastAPI, Request
from fastapi_support import closed_address

from dflock_integrations import AsyncDflockClient, InvalidKeyError, Signal
from dflock_integrations.fastapi import SignalStreamResponse, dflock_lifespan

from helpers import eventually


def events_app(settings, **options) -> FastAPI:
    app = FastAPI(lifespan=dflock_lifespan(settings))

    @app.get("/events")
    async def events(request: Request) -> SignalStreamResponse:
        return SignalStreamResponse(request, "orders.>", **options)

    return app


async def next_event(lines) -> list[str]:
    """The lines of the next event or comment, up to the blank line that ends it."""
    event = []
    async for line in lines:
        if line == "" and event:
            return event
        if line:
            event.append(line)
    raise AssertionError(f"stream ended inside {event}")


async def listeners(client, pattern: str) -> int:
    full = client.settings.key_prefix + pattern
    stats = await client.stats()
    return sum(c["listeners"] for c in stats.signal_channels if c["pattern"] == full)


async def test_signals_stream_as_events_and_the_listener_goes_with_the_browser(
    serve, http, client, dflock_settings
):
    base = serve(events_app(dflock_settings))
    async with http.stream("GET", f"{base}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        lines = response.aiter_lines()
        assert await next_event(lines) == [": listening"]  # subscribed from here on
        assert await listeners(client, "orders.>") == 1
        assert await client.emit("orders.paid", {"id": 7}) == 1
        assert await client.emit("orders.shipped", "parcel 7") == 1
        assert await client.emit("invoices.paid", "not for us") == 0
        assert await next_event(lines) == ["event: orders.paid", 'data: {"id":7}']
        assert await next_event(lines) == ["event: orders.shipped", "data: parcel 7"]
    await eventually(
        lambda: _no_listener(client, "orders.>"), what="the listener closed with the stream"
    )


async def test_keep_alive_comments_flow_while_nothing_happens(serve, http, dflock_settings):
    base = serve(events_app(dflock_settings, keepalive_s=0.05, retry_ms=2000))
    async with http.stream("GET", f"{base}/events") as response:
        lines = response.aiter_lines()
        assert await next_event(lines) == ["retry: 2000"]
        assert await next_event(lines) == [": keep-alive"]
        assert await next_event(lines) == [": keep-alive"]


async def test_unnamed_events_and_ids(serve, http, client, dflock_settings):
    base = serve(events_app(dflock_settings, event=None, event_id=lambda s: s.channel[-1]))
    async with http.stream("GET", f"{base}/events") as response:
        lines = response.aiter_lines()
        await next_event(lines)
        await client.emit("orders.n1", "x")
        assert await next_event(lines) == ["id: 1", "data: x"]


async def test_an_unreachable_server_is_a_503(serve, http, dflock_settings):
    settings = dflock_settings.replace(servers=closed_address(), connect_timeout_s=1.0)
    base = serve(events_app(settings))
    answer = await http.get(f"{base}/events")
    assert answer.status_code == 503
    assert answer.json()["error"] == "coordination_unavailable"


def test_events_are_formatted_line_by_line(dflock_settings):
    client = AsyncDflockClient(dflock_settings)  # never connects: only formatting here
    response = SignalStreamResponse(client, "a.>", event="update")
    signal = Signal("a.b", "one\rtwo\r\nthree", "127.0.0.1:1")
    assert response.format(signal) == "event: update\ndata: one\ndata: two\ndata: three\n\n"
    bad = SignalStreamResponse(client, "a.>", event=lambda s: "two\nlines")
    with pytest.raises(ValueError, match="one line"):
        bad.format(signal)


def test_bad_patterns_and_options_fail_at_once(dflock_settings):
    client = AsyncDflockClient(dflock_settings)
    with pytest.raises(InvalidKeyError):
        SignalStreamResponse(client, "orders.>.x")
    with pytest.raises(InvalidKeyError):
        SignalStreamResponse(client, "orders", group="bad group")
    with pytest.raises(ValueError, match="keepalive_s"):
        SignalStreamResponse(client, "orders", keepalive_s=0)
    with pytest.raises(ValueError, match="max_queue"):
        SignalStreamResponse(client, "orders", max_queue=0)


async def _no_listener(client, pattern: str) -> bool:
    return await listeners(client, pattern) == 0
