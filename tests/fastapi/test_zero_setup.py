"""`Depends(dflock_lock(...))` alone: no lifespan, no exception handlers, right answers.

The settings come from DFLOCK_* variables, as in a deployment; every app runs under a
real uvicorn.
"""

import logging
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_support import (
    closed_address,
    dflock_environment,
    run_uvicorn,
)

from dflock_integrations import AsyncDflockClient
from dflock_integrations.fastapi import (
    DflockHTTPException,
    HeldLease,
    SignalStreamResponse,
    dflock_lock,
    dflock_semaphore,
    get_dflock_client,
    install_exception_handlers,
)
from dflock_integrations.settings import DflockSettings

from helpers import eventually

order_lock = dflock_lock("order:{order_id}", acquire_timeout_s=0)
pdf_slots = dflock_semaphore("pdf", limit=2, acquire_timeout_s=0)


def bare_app() -> FastAPI:
    """What a new user writes: the dependencies and nothing else."""
    app = FastAPI()

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str, lease: Annotated[HeldLease, Depends(order_lock)]) -> dict:
        return {"order": order_id, "fence": lease.fence}

    @app.get("/pdf")
    async def pdf(lease: Annotated[HeldLease, Depends(pdf_slots)]) -> dict:
        return {"limit": lease.limit}

    @app.get("/client")
    async def which(dflock: Annotated[AsyncDflockClient, Depends(get_dflock_client)]) -> int:
        return id(dflock)

    @app.get("/client-from-a-thread")
    def which_from_a_thread(request: Request) -> int:  # a def endpoint: a worker thread
        return id(get_dflock_client(request))

    @app.post("/emit")
    async def emit(dflock: Annotated[AsyncDflockClient, Depends(get_dflock_client)]) -> int:
        return await dflock.emit("orders.paid", {"id": 1})

    @app.get("/events")
    async def events(request: Request) -> SignalStreamResponse:
        return SignalStreamResponse(request, "orders.>")

    return app


@pytest.fixture
def env(monkeypatch, dflock_settings):
    dflock_environment(monkeypatch, dflock_settings)
    return monkeypatch


async def test_free_busy_and_full_keys_answer_200_423_and_429(env, serve, http, client):
    base = serve(bare_app())
    free = await http.post(f"{base}/orders/1/pay")
    assert free.status_code == 200, free.text
    assert isinstance(free.json()["fence"], int)
    async with client.lock("order:1"):
        busy = await http.post(f"{base}/orders/1/pay")
    assert busy.status_code == 423, busy.text
    assert busy.headers["retry-after"] == "1"
    # FastAPI's own HTTPException handler answers: the body sits under "detail".
    assert busy.json()["detail"]["error"] == "locked"
    assert busy.json()["detail"]["key"] == "order:1"
    async with client.semaphore("pdf", limit=2), client.semaphore("pdf", limit=2):
        full = await http.get(f"{base}/pdf")
    assert (full.status_code, full.headers["retry-after"]) == (429, "1")
    assert full.json()["detail"]["error"] == "too_many_concurrent"


async def test_a_dead_server_answers_503_with_retry_after(monkeypatch, serve, http, caplog):
    dflock_environment(monkeypatch, DflockSettings(servers=closed_address(), connect_timeout_s=1))
    base = serve(bare_app())
    answer = await http.post(f"{base}/orders/1/pay")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["detail"]["error"] == "coordination_unavailable"
    assert "answered 503" in caplog.text  # the log says why; the body does not


async def test_one_client_per_app_built_at_first_use_and_closed_at_shutdown(
    monkeypatch, http, dflock_server_factory
):
    server = dflock_server_factory(port=0)
    settings = DflockSettings(servers=server.address)
    dflock_environment(monkeypatch, settings)
    first, second = bare_app(), bare_app()
    async with AsyncDflockClient(settings) as watcher:
        with run_uvicorn(first) as base_one, run_uvicorn(second) as base_two:
            # The first use is from a worker thread: built on the app's loop all the same.
            ids_one = {(await http.get(f"{base_one}/client-from-a-thread")).json()}
            ids_one |= {(await http.get(f"{base_one}/client")).json() for _ in range(3)}
            await http.post(f"{base_one}/orders/1/pay")
            id_two = (await http.get(f"{base_two}/client")).json()
            assert len(ids_one) == 1  # one client for the app's requests
            assert id_two not in ids_one  # and another for the other app
            assert (await watcher.stats()).connections[server.address] >= 2

        async def only_the_watcher_is_connected() -> bool:
            return (await watcher.stats()).connections[server.address] == 1

        # uvicorn stopped: the built clients closed their pooled connections.
        await eventually(only_the_watcher_is_connected, what="the apps' connections closed")


async def test_a_refused_token_answers_503_and_logs_why_without_the_token(
    monkeypatch, serve, http, dflock_server_factory, caplog
):
    server = dflock_server_factory(port=0, auth_token="right-token")
    dflock_environment(monkeypatch, DflockSettings(servers=server.address))
    monkeypatch.setenv("DFLOCK_AUTH_TOKEN", "wrong-token-hunter2")
    base = serve(bare_app())
    with caplog.at_level(logging.ERROR, logger="dflock_integrations"):
        answer = await http.post(f"{base}/orders/1/pay")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert "AuthenticationError" in caplog.text
    assert "hunter2" not in caplog.text + answer.text


async def test_a_semaphore_limit_that_differs_from_the_keys_answers_503(env, serve, http, client):
    base = serve(bare_app())
    async with client.semaphore("pdf", limit=5):  # an older deploy, another limit
        answer = await http.get(f"{base}/pdf")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["detail"]["error"] == "limit_conflict"


async def test_settings_that_cannot_work_answer_500_json_and_log_the_variable(
    env, serve, http, caplog
):
    env.setenv("DFLOCK_LEASE_TTL_S", "0")
    base = serve(bare_app())
    answer = await http.post(f"{base}/orders/1/pay")
    assert answer.status_code == 500
    assert answer.json()["detail"]["error"] == "coordination_misconfigured"
    assert "DFLOCK_LEASE_TTL_S" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("generation", ["1.10", "2.1"])
async def test_signals_on_a_server_without_them_answer_501(
    monkeypatch, http, dflock_server_factory, generation
):
    server = dflock_server_factory(compat=generation)
    dflock_environment(monkeypatch, DflockSettings(servers=server.address))
    with run_uvicorn(bare_app()) as base:  # stopped, its connections closed, first
        emitted = await http.post(f"{base}/emit")
        streamed = await http.get(f"{base}/events")
    assert emitted.status_code == 501, emitted.text
    assert emitted.json()["detail"]["error"] == "signals_unsupported"
    assert streamed.status_code == 501, streamed.text
    assert streamed.json()["error"] == "signals_unsupported"  # a response of its own: flat


async def test_installed_handlers_give_the_flat_body_for_every_failure(
    monkeypatch, serve, http, client, dflock_settings
):
    dflock_environment(monkeypatch, dflock_settings)
    app = bare_app()
    install_exception_handlers(app, retry_after_s=3)
    base = serve(app)
    async with client.lock("order:1"):
        busy = await http.post(f"{base}/orders/1/pay")
    async with client.semaphore("pdf", limit=5):
        conflict = await http.get(f"{base}/pdf")
    assert (busy.status_code, busy.json()["error"], busy.headers["retry-after"]) == (
        423,
        "locked",
        "3",
    )
    assert (conflict.status_code, conflict.json()["error"]) == (503, "limit_conflict")


async def test_a_handler_for_dflock_http_exception_answers_instead(env, serve, http, client):
    app = bare_app()

    @app.exception_handler(DflockHTTPException)
    async def mine(request: Request, exc: DflockHTTPException) -> JSONResponse:
        return JSONResponse({"mine": type(exc.error).__name__}, status_code=exc.status_code)

    base = serve(app)
    async with client.lock("order:1"):
        answer = await http.post(f"{base}/orders/1/pay")
    assert (answer.status_code, answer.json()) == (423, {"mine": "LockTimeout"})
