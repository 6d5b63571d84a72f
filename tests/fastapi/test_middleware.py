"""DflockMiddleware on plain Starlette and on FastAPI: rules, answers, pass-through, leaving."""

import asyncio
import contextlib

import pytest
from fastapi import FastAPI
from fastapi_support import (
    RawRequest,
    closed_address,
    dflock_environment,
    is_free,
    stats_entry,
    waiters,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dflock_integrations import AsyncDflockClient, InvalidKeyError
from dflock_integrations.starlette import DflockMiddleware, Rule, dflock_lifespan

from helpers import eventually

RULES = [
    Rule("/orders/{order_id}", key="order:{order_id}", methods={"POST"}, acquire_timeout_s=0.3),
    {"path": "/reports/{name}", "key": "reports", "limit": 2, "acquire_timeout_s": 0.3},
    Rule("/slow/{name}", key="slow:{name}", acquire_timeout_s=30),
    Rule("/feeds/{name}", key="feed:{name}"),
]


class Counter:
    def __init__(self) -> None:
        self.slow_runs = 0
        self.inside = 0
        self.peak = 0

    @contextlib.asynccontextmanager
    async def entered(self):
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            yield
        finally:
            self.inside -= 1


def routes(counter: Counter) -> list[Route]:
    async def order(request: Request) -> Response:
        lease = getattr(request.state, "dflock_lease", None)
        async with counter.entered():
            await asyncio.sleep(0.02)
        body = (await request.body()).decode()
        return JSONResponse({"fence": lease and lease.fence, "body": body})

    async def report(request: Request) -> Response:
        async with counter.entered():
            await asyncio.sleep(0.1)
        return PlainTextResponse("ok")

    async def slow(request: Request) -> Response:
        counter.slow_runs += 1
        return PlainTextResponse((await request.body()).decode())

    async def feed(request: Request) -> Response:
        lease = request.state.dflock_lease

        async def chunks():
            for _ in range(3):
                yield f"{lease.held}\n"
                await asyncio.sleep(0)

        return StreamingResponse(chunks())

    return [
        Route("/orders/{order_id}", order, methods=["GET", "POST"]),
        Route("/reports/{name}", report),
        Route("/slow/{name}", slow, methods=["POST"]),
        Route("/feeds/{name}", feed),
        Route("/other/{name}", order, methods=["GET", "POST"]),
    ]


def make_app(lifespan_settings, counter: Counter, *, kind="starlette", rules=RULES, **options):
    """The routes behind the middleware, on plain Starlette or on FastAPI.

    With `lifespan_settings` the client comes from dflock_lifespan; `options` go to the
    middleware.
    """
    lifespan = dflock_lifespan(lifespan_settings) if lifespan_settings is not None else None
    if kind == "fastapi":
        app = FastAPI(lifespan=lifespan, routes=routes(counter))
        app.add_middleware(DflockMiddleware, rules=rules, **options)
        return app
    middleware = [Middleware(DflockMiddleware, rules=rules, **options)]
    return Starlette(routes=routes(counter), lifespan=lifespan, middleware=middleware)


@pytest.fixture(params=["starlette", "fastapi"])
def kind(request):
    return request.param


@pytest.mark.dflock_compat("1.10", "2.1")
async def test_a_lock_rule_serialises_requests(
    serve, http, client, dflock_settings, kind, dflock_compat
):
    counter = Counter()
    patient = [Rule("/orders/{order_id}", key="order:{order_id}", acquire_timeout_s=30)]
    base = serve(make_app(dflock_settings, counter, kind=kind, rules=patient))
    answers = await asyncio.gather(*(http.post(f"{base}/orders/1") for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert counter.peak == 1
    fences = [a.json()["fence"] for a in answers]
    if dflock_compat == "1.10":
        assert fences == [None] * 10  # random tokens carry no fence
    else:
        assert all(isinstance(f, int) for f in fences) and len(set(fences)) == 10
    # The lease is held until the response is sent, so its release may trail the answer.
    await eventually(lambda: is_free(client, "order:1"), what="order:1 released")


async def test_a_semaphore_rule_caps_requests(serve, http, dflock_settings, kind):
    counter = Counter()
    patient = [Rule("/reports/{name}", key="reports", limit=2, acquire_timeout_s=30)]
    base = serve(make_app(dflock_settings, counter, kind=kind, rules=patient))
    answers = await asyncio.gather(*(http.get(f"{base}/reports/x") for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert counter.peak == 2


async def test_refusals_are_answered_with_json_and_retry_after(
    serve, http, client, dflock_settings, kind
):
    base = serve(make_app(dflock_settings, Counter(), kind=kind))
    async with client.lock("order:1"):
        locked = await http.post(f"{base}/orders/1")
    async with client.semaphore("reports", limit=2), client.semaphore("reports", limit=2):
        full = await http.get(f"{base}/reports/x")
    assert (locked.status_code, locked.json()["error"]) == (423, "locked")
    assert (full.status_code, full.json()["limit"]) == (429, 2)
    assert locked.headers["retry-after"] == full.headers["retry-after"] == "1"


async def test_an_unreachable_server_is_a_503(serve, http, dflock_settings):
    settings = dflock_settings.replace(servers=closed_address(), connect_timeout_s=1.0)
    base = serve(make_app(settings, Counter()))
    answer = await http.post(f"{base}/orders/1", timeout=settings.connect_timeout_s + 1)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"] == "coordination_unavailable"


async def test_other_paths_and_methods_are_untouched(serve, http, client, dflock_settings):
    base = serve(make_app(dflock_settings, Counter()))
    async with client.lock("order:1"):
        other = await http.post(f"{base}/other/1")  # no rule for this path
        get = await http.get(f"{base}/orders/1")  # the rule is for POST only
        post = await http.post(f"{base}/orders/1")
    assert (other.status_code, get.status_code, post.status_code) == (200, 200, 423)
    assert other.json()["fence"] is None  # no lease was taken for it


async def test_the_lease_covers_the_whole_streamed_response(serve, http, client, dflock_settings):
    base = serve(make_app(dflock_settings, Counter()))
    assert (await http.get(f"{base}/feeds/a")).text == "True\n" * 3
    await eventually(lambda: is_free(client, "feed:a"), what="the lease released")


async def test_a_body_received_while_queued_reaches_the_app_intact(
    serve, http, client, dflock_settings
):
    base = serve(make_app(dflock_settings, Counter()))
    body = "".join(f"line {n}\n" for n in range(20_000))  # several receive() messages
    async with client.lock("slow:a"):
        sending = asyncio.create_task(http.post(f"{base}/slow/a", content=body))
        await eventually(lambda: _waiting_is(client, "slow:a", 1), what="the request queued")
    assert (await sending).text == body


async def test_a_client_leaving_while_queued_withdraws_its_waiter(serve, client, dflock_settings):
    counter = Counter()
    base = serve(make_app(dflock_settings, counter))
    async with client.lock("slow:b"):
        request = await RawRequest.send(base, "/slow/b", method="POST")
        await eventually(lambda: _waiting_is(client, "slow:b", 1), what="the request queued")
        await request.close()
        await eventually(lambda: _waiting_is(client, "slow:b", 0), what="the waiter withdrawn")
    assert await is_free(client, "slow:b")
    assert counter.slow_runs == 0  # nobody was there to answer: the app never ran


async def test_a_client_leaving_mid_stream_releases_the_lock(serve, http, client, dflock_settings):
    async def ticks(request: Request) -> Response:
        async def forever():
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(forever())

    app = Starlette(
        routes=[Route("/feeds/{name}", ticks)],
        lifespan=dflock_lifespan(dflock_settings),
        middleware=[Middleware(DflockMiddleware, rules=RULES)],
    )
    base = serve(app)
    async with http.stream("GET", f"{base}/feeds/live") as response:
        lines = response.aiter_lines()  # kept: a dropped iterator closes the connection
        assert await anext(lines) == "tick"
        assert await stats_entry(client, "feed:live") is not None
    await eventually(lambda: is_free(client, "feed:live"), what="the lock released")


async def test_an_explicit_client_or_settings_needs_no_lifespan(
    serve, http, client, dflock_settings
):
    # A client of the app's own, used on the server's event loop only, closed by the app.
    own = AsyncDflockClient(dflock_settings)

    @contextlib.asynccontextmanager
    async def closing(app):
        async with own:
            yield

    with_client = Starlette(
        routes=routes(Counter()),
        lifespan=closing,
        middleware=[Middleware(DflockMiddleware, rules=RULES, client=own)],
    )
    with_settings = make_app(None, Counter(), settings=dflock_settings)
    for app in (with_client, with_settings):
        base = serve(app)
        async with client.lock("order:1"):
            assert (await http.post(f"{base}/orders/1")).status_code == 423
        assert (await http.post(f"{base}/orders/1")).status_code == 200


async def test_switched_off_the_middleware_lets_everything_through(
    serve, http, client, dflock_settings
):
    off = make_app(dflock_settings, Counter(), enabled=False)
    app_off = Starlette(
        routes=routes(Counter()),
        lifespan=dflock_lifespan(dflock_settings, enabled=False),  # the app-wide switch
        middleware=[Middleware(DflockMiddleware, rules=RULES)],
    )
    for app in (off, app_off):
        base = serve(app)
        async with client.lock("order:1"):
            assert (await http.post(f"{base}/orders/1")).status_code == 200


async def test_non_http_scopes_pass_straight_through():
    seen = []

    async def inner(scope, receive, send):
        seen.append((scope, receive, send))

    middleware = DflockMiddleware(inner, rules=RULES)
    for scope in ({"type": "websocket", "path": "/orders/1"}, {"type": "lifespan"}):

        async def receive():
            return {}

        async def send(message):
            pass

        await middleware(scope, receive, send)
        assert seen.pop() == (scope, receive, send)


async def test_the_apps_lifespan_still_runs_under_the_middleware(serve, http, dflock_settings):
    @contextlib.asynccontextmanager
    async def own(app):
        yield {"started": True}

    async def state(request: Request) -> Response:
        return JSONResponse(request.state.started)

    app = Starlette(
        routes=[Route("/state", state)],
        lifespan=own,
        middleware=[Middleware(DflockMiddleware, rules=RULES, settings=dflock_settings)],
    )
    base = serve(app)
    assert (await http.get(f"{base}/state")).json() is True


def test_rules_are_checked_when_the_middleware_is_built(dflock_settings):
    async def app(scope, receive, send): ...

    with pytest.raises(InvalidKeyError):
        DflockMiddleware(app, rules=[{"path": "/orders/{id}", "key": "order:{other}"}])
    with pytest.raises(InvalidKeyError):
        DflockMiddleware(app, rules=[Rule("/a", key="bad key")])
    with pytest.raises(ValueError, match="not both"):
        DflockMiddleware(app, rules=[], client=object(), settings=dflock_settings)


async def test_without_any_client_one_is_built_from_the_environment(
    monkeypatch, serve, http, client, dflock_settings, kind
):
    dflock_environment(monkeypatch, dflock_settings)
    base = serve(make_app(None, Counter(), kind=kind))  # no lifespan, no client=
    assert (await http.post(f"{base}/orders/1")).status_code == 200
    async with client.lock("order:1"):
        locked = await http.post(f"{base}/orders/1")
    assert (locked.status_code, locked.json()["error"]) == (423, "locked")


async def _waiting_is(client, key: str, count: int) -> bool:
    return await waiters(client, key) == count
