"""dflock_lock / dflock_semaphore as FastAPI dependencies: keys, leases, switches, overrides."""

import asyncio
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi_support import is_free, stats_entry

from dflock_integrations import AsyncDflockClient, InvalidKeyError, LockTimeout
from dflock_integrations.fastapi import (
    HeldLease,
    SkippedLease,
    dflock_lifespan,
    dflock_lock,
    dflock_semaphore,
    get_dflock_client,
    install_exception_handlers,
)

from helpers import eventually


def make_app(settings, **lifespan_options) -> FastAPI:
    app = FastAPI(lifespan=dflock_lifespan(settings, **lifespan_options))
    install_exception_handlers(app)
    return app


order_lock = dflock_lock("order:{order_id}", acquire_timeout_s=0.3)


def orders_app(settings, **lifespan_options) -> FastAPI:
    app = make_app(settings, **lifespan_options)

    @app.get("/orders/{order_id}")
    async def show(
        order_id: str, request: Request, lease: Annotated[HeldLease, Depends(order_lock)]
    ) -> dict:
        entry = await stats_entry(get_dflock_client(request), lease.name)
        return {
            "name": lease.name,
            "fence": lease.fence,
            "held": lease.held,
            "server_sees_it": entry is not None,
            "skipped": isinstance(lease, SkippedLease),
        }

    return app


@pytest.mark.dflock_compat("1.10", "2.1")
async def test_the_endpoint_runs_holding_the_lease_and_gets_its_fence(
    serve, http, client, dflock_settings, dflock_compat
):
    base = serve(orders_app(dflock_settings))
    first = (await http.get(f"{base}/orders/17")).json()
    second = (await http.get(f"{base}/orders/17")).json()
    assert first["name"] == "order:17"
    assert first["held"] and first["server_sees_it"] and not first["skipped"]
    if dflock_compat == "1.10":  # random tokens: no fence to hand out
        assert first["fence"] is None and second["fence"] is None
    else:
        assert second["fence"] > first["fence"]
    # Released before the response was sent, so it is free the moment we have the answer.
    assert await is_free(client, "order:17")


async def test_path_parameters_win_over_query_parameters(serve, http, dflock_settings):
    base = serve(orders_app(dflock_settings))
    body = (await http.get(f"{base}/orders/1", params={"order_id": "2"})).json()
    assert body["name"] == "order:1"


async def test_fields_missing_from_the_path_come_from_the_query(serve, http, dflock_settings):
    app = make_app(dflock_settings)
    thing_lock = dflock_lock("thing:{thing_id}:{kind}")

    @app.get("/things/{kind}")
    async def thing(lease: Annotated[HeldLease, Depends(thing_lock)]) -> str:
        return lease.name

    base = serve(app)
    answer = await http.get(f"{base}/things/box", params={"thing_id": "a b\nc"})
    assert answer.json() == "thing:a%20b%0Ac:box"  # values are encoded into a safe key


async def test_a_missing_field_is_a_422_naming_it(serve, http, dflock_settings):
    app = make_app(dflock_settings)
    thing_lock = dflock_lock("thing:{thing_id}")
    calls = []

    @app.get("/things")
    async def thing(lease: Annotated[HeldLease, Depends(thing_lock)]) -> None:
        calls.append(lease)

    base = serve(app)
    answer = await http.get(f"{base}/things")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "thing_id"]
    assert answer.json()["detail"][0]["type"] == "missing"  # as FastAPI words its own
    assert calls == []


def test_a_typed_field_is_declared_to_fastapi_and_so_in_the_openapi_schema():
    app = FastAPI()
    untyped = dflock_lock("thing:{thing_id}")
    typed = dflock_lock("part:{part_id}", types={"part_id": int})

    @app.get("/things")
    async def thing(lease: Annotated[HeldLease, Depends(untyped)]) -> None: ...

    @app.get("/parts")
    async def part(lease: Annotated[HeldLease, Depends(typed)]) -> None: ...

    paths = app.openapi()["paths"]
    assert "parameters" not in paths["/things"]["get"]  # read as sent, not declared
    query = paths["/parts"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in query] == [("part_id", "query", True)]


async def test_a_path_converter_value_fills_the_template(serve, http, dflock_settings):
    app = make_app(dflock_settings)
    item_lock = dflock_lock("item:{item_id}")

    @app.get("/items/{item_id:int}")
    async def item(item_id: int, lease: Annotated[HeldLease, Depends(item_lock)]) -> str:
        return lease.name

    base = serve(app)
    assert (await http.get(f"{base}/items/42")).json() == "item:42"


async def test_without_types_each_spelling_is_its_own_key_and_types_unify_them(
    serve, http, dflock_settings
):
    """`/orders/007` and `/orders/7` reach an `order_id: int` endpoint as the same 7."""
    app = make_app(dflock_settings)
    raw = dflock_lock("raw:{order_id}")
    typed = dflock_lock("typed:{order_id}", types={"order_id": int})

    @app.get("/raw/{order_id}")
    async def by_text(order_id: int, lease: Annotated[HeldLease, Depends(raw)]) -> list:
        return [order_id, lease.name]

    @app.get("/typed/{order_id}")
    async def by_value(order_id: int, lease: Annotated[HeldLease, Depends(typed)]) -> list:
        return [order_id, lease.name]

    base = serve(app)
    spellings = ["7", "007", "+7"]
    raw_keys = [(await http.get(f"{base}/raw/{s}")).json() for s in spellings]
    assert raw_keys == [[7, "raw:7"], [7, "raw:007"], [7, "raw:+7"]]
    typed_keys = [(await http.get(f"{base}/typed/{s}")).json() for s in spellings]
    assert typed_keys == [[7, "typed:7"]] * 3
    assert (await http.get(f"{base}/typed/seven")).status_code == 422


def test_types_may_only_name_fields_of_the_key():
    with pytest.raises(ValueError, match=r"types= names \['orderid'\]"):
        dflock_lock("order:{order_id}", types={"orderid": int})


async def test_a_key_function_may_be_sync_or_async(serve, http, dflock_settings):
    app = make_app(dflock_settings)

    async def tenant_key(request: Request) -> str:
        await asyncio.sleep(0)
        return "tenant:" + request.headers["x-tenant"]

    by_user = dflock_lock(lambda request: "user:" + request.headers["x-user"])
    by_tenant = dflock_semaphore(tenant_key, limit=2)

    @app.get("/me")
    async def me(
        user: Annotated[HeldLease, Depends(by_user)],
        tenant: Annotated[HeldLease, Depends(by_tenant)],
    ) -> list:
        return [user.name, tenant.name, tenant.limit]

    base = serve(app)
    answer = await http.get(f"{base}/me", headers={"x-user": "ann", "x-tenant": "acme"})
    assert answer.json() == ["user:ann", "tenant:acme", 2]


async def test_a_key_function_returning_an_unusable_key_names_itself():
    def by_header(request):
        return "user " + request.headers["x-user"]  # a space: not a key

    dependency = dflock_lock(by_header)
    request = Request({"type": "http", "headers": [(b"x-user", b"ann")]})
    with pytest.raises(InvalidKeyError, match=r"by_header.*KeyTemplate"):
        await dependency.key_for(request, {})


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: dflock_lock("order {id}"), InvalidKeyError),
        (lambda: dflock_lock("order:{id.attr}"), InvalidKeyError),
        (lambda: dflock_lock("order:{id!r}"), InvalidKeyError),
        (lambda: dflock_lock("order:{"), InvalidKeyError),
        (lambda: dflock_lock(""), InvalidKeyError),
        (lambda: dflock_lock("x" * 300), InvalidKeyError),
        (lambda: dflock_lock(42), TypeError),
        (lambda: dflock_lock("k", acquire_timeout_s=-1), ValueError),
        (lambda: dflock_lock("k", acquire_timeout_s=float("nan")), ValueError),
        (lambda: dflock_lock("k", lease_ttl_s=0), ValueError),
        (lambda: dflock_lock("k", aquire_timeout_s=1), TypeError),
        (lambda: dflock_semaphore("k", limit=0), ValueError),
        (lambda: dflock_semaphore("k", limit=True), ValueError),
        (lambda: dflock_semaphore("k", limit=None), ValueError),
    ],
)
def test_bad_keys_and_options_fail_when_the_dependency_is_built(make, error):
    with pytest.raises(error):
        make()


def test_dependencies_say_what_they_hold():
    assert repr(dflock_lock("order:{id}")) == "dflock_lock('order:{id}')"
    assert repr(dflock_semaphore("reports", limit=3)) == "dflock_semaphore('reports', limit=3)"


async def test_overrides_replace_the_lock(serve, http, client, dflock_settings):
    app = orders_app(dflock_settings)
    app.dependency_overrides[order_lock] = lambda: SkippedLease("fake")
    base = serve(app)
    async with client.lock("order:1"):  # would make the real dependency answer 423
        answer = await http.get(f"{base}/orders/1")
    assert answer.status_code == 200
    assert answer.json()["name"] == "fake"


async def test_disabled_dependency_takes_nothing(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    off = dflock_lock("order:{order_id}", acquire_timeout_s=0.3, enabled=False)

    @app.get("/orders/{order_id}")
    async def show(lease: Annotated[HeldLease, Depends(off)]) -> list:
        return [lease.name, lease.held, lease.fence]

    base = serve(app)
    async with client.lock("order:1"):
        answer = await http.get(f"{base}/orders/1")
    assert answer.json() == ["order:1", False, None]


async def test_switching_locking_off_for_the_app(serve, http, client, dflock_settings):
    base = serve(orders_app(dflock_settings, enabled=False))
    async with client.lock("order:1"):
        answer = await http.get(f"{base}/orders/1")
    assert answer.status_code == 200
    assert answer.json()["skipped"] is True


async def test_router_dependencies_and_sync_endpoints(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)
    router = APIRouter(dependencies=[Depends(order_lock)])

    @router.post("/orders/{order_id}/pay")
    def pay(order_id: str) -> str:  # a plain def: runs in the thread pool, lease held
        return order_id

    app.include_router(router)
    base = serve(app)
    assert (await http.post(f"{base}/orders/5/pay")).json() == "5"
    async with client.lock("order:5"):
        refused = await http.post(f"{base}/orders/5/pay")
    assert refused.status_code == 423


async def test_get_dflock_client_gives_the_lifespan_client(serve, http, client, dflock_settings):
    app = make_app(dflock_settings)

    @app.post("/emit")
    async def emit(dflock: Annotated[AsyncDflockClient, Depends(get_dflock_client)]) -> int:
        return await dflock.emit("orders.paid", {"id": 1})

    base = serve(app)
    async with client.listen("orders.>") as sub:
        assert (await http.post(f"{base}/emit")).json() == 1
        signal = await sub.get(5)
    assert signal is not None and signal.json() == {"id": 1}


async def test_an_app_may_replace_the_failure_answers(serve, http, client, dflock_settings):
    app = orders_app(dflock_settings)

    @app.exception_handler(LockTimeout)
    async def busy(request: Request, exc: LockTimeout) -> JSONResponse:
        return JSONResponse({"busy": exc.key}, status_code=409)

    base = serve(app)
    async with client.lock("order:1"):
        answer = await http.get(f"{base}/orders/1")
    assert (answer.status_code, answer.json()) == (409, {"busy": "order:1"})


async def test_the_apps_own_lifespan_runs_inside_and_shares_state(serve, http, dflock_settings):
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def own(app):
        # The dflock client already exists here, so start-up code can use it.
        ready = isinstance(app.state.dflock_client, AsyncDflockClient)
        yield {"greeting": "hi", "had_client": ready}

    app = make_app(dflock_settings, lifespan=own)

    @app.get("/state")
    async def state(request: Request) -> list:
        client = get_dflock_client(request)
        return [request.state.greeting, request.state.had_client, client is app.state.dflock_client]

    base = serve(app)
    assert (await http.get(f"{base}/state")).json() == ["hi", True, True]


def lease_report_app(settings, **lock_options) -> FastAPI:
    app = make_app(settings)
    feed_lock = dflock_lock("feed:{name}", **lock_options)

    @app.get("/feeds/{name}")
    async def feed(name: str, lease: Annotated[HeldLease, Depends(feed_lock)]):
        async def chunks():
            for _ in range(3):
                yield f"{lease.held}\n"
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


async def test_by_default_the_lease_ends_before_the_body_streams(serve, http, dflock_settings):
    base = serve(lease_report_app(dflock_settings))
    assert (await http.get(f"{base}/feeds/a")).text == "False\n" * 3


async def test_hold_for_stream_keeps_the_lease_until_the_body_is_sent(
    serve, http, client, dflock_settings
):
    base = serve(lease_report_app(dflock_settings, hold_for_stream=True))
    assert (await http.get(f"{base}/feeds/a")).text == "True\n" * 3
    # Released once the response is out, which may be just after we have read it.
    await eventually(lambda: is_free(client, "feed:a"), what="the lease released")
