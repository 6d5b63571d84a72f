"""The dependencies under real concurrency: uvicorn, concurrent httpx clients, the test server.

Order of arrival is made observable this way: the test holds the key itself, then
sends request n only once the server's stats show n requests queued, so the
server's FIFO queue holds them in sending order; the endpoint records the order in
which they run.
"""

import asyncio
import re
import threading
import time
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi_support import RawRequest, closed_address, is_free, stats_entry, waiters

from dflock_integrations import AsyncDflockClient
from dflock_integrations.fastapi import (
    HeldLease,
    dflock_lifespan,
    dflock_lock,
    dflock_semaphore,
    install_exception_handlers,
)
from dflock_integrations.testing.pytest_plugin import settings_for

from helpers import eventually


def make_app(settings) -> FastAPI:
    app = FastAPI(lifespan=dflock_lifespan(settings))
    install_exception_handlers(app)
    return app


async def queue_up(client, key: str, send, count: int) -> list[asyncio.Task]:
    """Send `count` requests, each once the previous one is seen queued on `key`."""
    tasks = []
    for n in range(count):
        tasks.append(asyncio.create_task(send(n)))
        await eventually(lambda n=n: _waiting_is(client, key, n + 1), what=f"request {n} queued")
    return tasks


async def _waiting_is(client, key: str, count: int) -> bool:
    return await waiters(client, key) == count


async def test_twenty_requests_on_one_key_never_overlap_and_run_in_arrival_order(
    serve, http, client, dflock_settings
):
    app = make_app(dflock_settings)
    job_lock = dflock_lock("job:{job}", acquire_timeout_s=30)
    inside = 0
    overlaps = 0
    ran: list[int] = []

    @app.get("/jobs/{job}")
    async def work(job: str, n: int, lease: Annotated[HeldLease, Depends(job_lock)]) -> int:
        nonlocal inside, overlaps
        inside += 1
        overlaps += inside > 1
        ran.append(n)
        await asyncio.sleep(0.05)  # the work
        inside -= 1
        return lease.fence

    base = serve(app)

    async def send(n: int):
        return await http.get(f"{base}/jobs/a", params={"n": n})

    async with client.lock("job:a"):  # everybody queues behind the test
        tasks = await queue_up(client, "job:a", send, 20)
    answers = await asyncio.gather(*tasks)
    assert [a.status_code for a in answers] == [200] * 20
    assert overlaps == 0
    assert ran == list(range(20))
    fences = [a.json() for a in answers]
    assert fences == sorted(fences) and len(set(fences)) == 20
    assert await is_free(client, "job:a")


async def test_sync_endpoints_never_overlap_either(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    job_lock = dflock_lock("job:{job}", acquire_timeout_s=30)
    guard = threading.Lock()
    inside = 0
    overlaps = 0

    @app.get("/jobs/{job}")
    def work(job: str, lease: Annotated[HeldLease, Depends(job_lock)]) -> bool:
        nonlocal inside, overlaps
        with guard:
            inside += 1
            overlaps += inside > 1
        time.sleep(0.05)  # blocking work, in the thread pool
        with guard:
            inside -= 1
        return lease.held

    base = serve(app)
    answers = await asyncio.gather(*(http.get(f"{base}/jobs/b") for _ in range(10)))
    assert [a.json() for a in answers] == [True] * 10
    assert overlaps == 0


async def test_a_semaphore_of_three_is_never_exceeded(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    reports = dflock_semaphore("reports", limit=3, acquire_timeout_s=30)
    inside = 0
    peak = 0

    @app.get("/report")
    async def report(lease: Annotated[HeldLease, Depends(reports)]) -> None:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.1)
        inside -= 1

    base = serve(app)
    answers = await asyncio.gather(*(http.get(f"{base}/report") for _ in range(15)))
    assert [a.status_code for a in answers] == [200] * 15
    assert peak == 3  # all slots were used, and never more
    assert await is_free(client, "reports")


async def test_a_lock_timeout_is_a_423_with_retry_after(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    order_lock = dflock_lock("order:{order_id}", acquire_timeout_s=0.2)

    @app.post("/orders/{order_id}")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> None: ...

    base = serve(app)
    async with client.lock("order:9"):
        answer = await http.post(f"{base}/orders/9")
        assert await waiters(client, "order:9") == 0  # the timed-out waiter is gone
    assert answer.status_code == 423
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "locked"
    assert answer.json()["key"] == "order:9"


async def test_a_full_semaphore_is_a_429(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    exports = dflock_semaphore("exports", limit=2, acquire_timeout_s=0.2)

    @app.post("/exports")
    async def export(lease: Annotated[HeldLease, Depends(exports)]) -> None: ...

    base = serve(app)
    async with client.semaphore("exports", limit=2), client.semaphore("exports", limit=2):
        answer = await http.post(f"{base}/exports")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert answer.json() == {
        "error": "too_many_concurrent",
        "detail": answer.json()["detail"],
        "key": "exports",
        "limit": 2,
    }


async def test_the_servers_waiter_cap_is_a_429_not_a_500(serve, http, dflock_server_factory):
    server = dflock_server_factory(max_waiters=1)
    settings = settings_for(server, key_prefix="cap.")
    app = make_app(settings)
    hot = dflock_lock("hot", acquire_timeout_s=30)

    @app.get("/hot")
    async def endpoint(lease: Annotated[HeldLease, Depends(hot)]) -> int:
        return lease.fence

    base = serve(app)
    async with AsyncDflockClient(settings) as other, other.lock("hot"):
        first = asyncio.create_task(http.get(f"{base}/hot"))  # the one waiter allowed
        await eventually(lambda: _waiting_is(other, "hot", 1), what="the first request queued")
        refused = await http.get(f"{base}/hot")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "too_many_waiting"
    assert (await first).status_code == 200


@pytest.mark.dflock_compat("1.10", "2.1")
async def test_a_lease_lost_mid_handler_is_logged_and_the_response_stands(
    serve, http, dflock_server_factory, caplog
):
    server = dflock_server_factory()
    app = make_app(settings_for(server, key_prefix="lost."))
    job = dflock_lock("job", lease_ttl_s=1)
    handler_running = threading.Event()  # uvicorn runs the app on a thread of its own

    @app.get("/job")
    async def work(lease: Annotated[HeldLease, Depends(job)]) -> str:
        handler_running.set()
        await eventually(lambda: lease.lost, timeout_s=10, what="the renewal to fail")
        return "done anyway"

    base = serve(app)
    answer = asyncio.create_task(http.get(f"{base}/job"))
    assert await asyncio.to_thread(handler_running.wait, 10)
    await asyncio.to_thread(server.stop)  # a server restart, as far as the lease knows
    response = await answer
    assert (response.status_code, response.json()) == (200, "done anyway")
    assert "dflock lease on 'job' was lost while GET /job ran" in caplog.text
    # and why: the line carries the loss itself, not only the fact
    assert "the response was sent unchanged: LockLostError: " in caplog.text


async def test_an_unreachable_server_is_a_503_within_the_connect_timeout(
    serve, http, dflock_settings
):
    settings = dflock_settings.replace(servers=closed_address(), connect_timeout_s=1.0)
    app = make_app(settings)
    order_lock = dflock_lock("order:{order_id}")

    @app.post("/orders/{order_id}")
    async def pay(lease: Annotated[HeldLease, Depends(order_lock)]) -> None: ...

    base = serve(app)
    # The HTTP timeout is the deadline: the 503 must come within the connect timeout.
    answer = await http.post(f"{base}/orders/1", timeout=settings.connect_timeout_s + 1)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"] == "coordination_unavailable"
    assert "127.0.0.1" not in answer.text  # internal addresses stay out of answers


async def test_a_client_leaving_while_queued_withdraws_its_waiter(serve, client, dflock_settings):
    app = make_app(dflock_settings)
    order_lock = dflock_lock("order:{order_id}", acquire_timeout_s=30)
    ran = []

    @app.get("/orders/{order_id}")
    async def show(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> None:
        ran.append(order_id)

    base = serve(app)
    async with client.lock("order:3"):
        request = await RawRequest.send(base, "/orders/3")
        await eventually(lambda: _waiting_is(client, "order:3", 1), what="the request queued")
        await request.close()
        await eventually(lambda: _waiting_is(client, "order:3", 0), what="the waiter withdrawn")
    assert await is_free(client, "order:3")
    assert ran == []


async def test_a_body_sent_while_queued_reaches_the_endpoint_intact(
    serve, http, client, dflock_settings
):
    app = make_app(dflock_settings)
    upload_lock = dflock_lock("upload:{name}", acquire_timeout_s=30)

    @app.post("/uploads/{name}")
    async def upload(request: Request, lease: Annotated[HeldLease, Depends(upload_lock)]) -> str:
        return (await request.body()).decode()

    base = serve(app)
    body = "".join(f"line {n}\n" for n in range(20_000))  # several receive() messages
    async with client.lock("upload:a"):
        sending = asyncio.create_task(http.post(f"{base}/uploads/a", content=body))
        await eventually(lambda: _waiting_is(client, "upload:a", 1), what="the request queued")
    assert (await sending).json() == body


async def test_a_body_still_arriving_when_the_grant_comes_keeps_the_lease_alive(
    serve, client, dflock_settings
):
    """The grant is taken (and renewed) while the rest of the body is still on its way."""
    app = make_app(dflock_settings)
    upload_lock = dflock_lock("slow:{name}", acquire_timeout_s=30, lease_ttl_s=1)

    @app.post("/slow/{name}")
    async def upload(request: Request, lease: Annotated[HeldLease, Depends(upload_lock)]) -> str:
        return (await request.body()).decode()

    url = httpx.URL(serve(app))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    body = b"first half;second half"
    head = f"POST /slow/a HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n"
    try:
        async with client.lock("slow:a"):
            writer.write(head.encode() + body[:11])
            await writer.drain()
            await eventually(lambda: _waiting_is(client, "slow:a", 1), what="the request queued")
        # The scenario: the rest of the body comes more than a whole lease after the grant.
        await asyncio.sleep(1.5)
        writer.write(body[11:])
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])
        content = await asyncio.wait_for(reader.readexactly(length), timeout=10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    assert content == b'"first half;second half"'
    assert await is_free(client, "slow:a")


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_client_leaving_mid_handler_leaves_no_lock(serve, client, dflock_settings, kind):
    app = make_app(dflock_settings)
    order_lock = dflock_lock("order:{order_id}")
    entered, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    if kind == "async":

        @app.get("/orders/{order_id}")
        async def show(lease: Annotated[HeldLease, Depends(order_lock)]) -> None:
            entered.set()
            await asyncio.to_thread(proceed.wait, 10)
            finished.set()

    else:

        @app.get("/orders/{order_id}")
        def show(lease: Annotated[HeldLease, Depends(order_lock)]) -> None:
            entered.set()
            proceed.wait(10)
            finished.set()

    base = serve(app)
    request = await RawRequest.send(base, "/orders/4")
    await eventually(entered.is_set, what="the handler started")
    assert await stats_entry(client, "order:4") is not None
    await request.close()
    proceed.set()
    await eventually(lambda: is_free(client, "order:4"), what="the lock released")
    assert finished.is_set()  # the handler was not cut short


async def test_a_client_leaving_mid_stream_releases_a_stream_held_lock(
    serve, http, client, dflock_settings
):
    app = make_app(dflock_settings)
    feed_lock = dflock_lock("feed:{name}", hold_for_stream=True)

    @app.get("/feeds/{name}")
    async def feed(name: str, lease: Annotated[HeldLease, Depends(feed_lock)]):
        async def ticks():
            while True:  # until the client goes
                yield b"tick\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(ticks(), media_type="text/plain")

    base = serve(app)
    async with http.stream("GET", f"{base}/feeds/news") as response:
        lines = response.aiter_lines()  # kept: a dropped iterator closes the connection
        assert await anext(lines) == "tick"
        assert await stats_entry(client, "feed:news") is not None
    await eventually(lambda: is_free(client, "feed:news"), what="the lock released")
