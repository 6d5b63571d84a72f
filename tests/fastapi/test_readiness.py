"""The readiness endpoint on a live uvicorn: 200 while every server answers, 503 within
its timeout once one is frozen (SIGSTOP) or killed, JSON either way."""

import time

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Route

from dflock_integrations.fastapi import dflock_lifespan, dflock_readiness
from dflock_integrations.settings import DflockSettings

SLACK_S = 1.0  # beyond the probe's timeout: the HTTP round trip on a loaded machine


@pytest.fixture
def two_servers(dflock_server_process):
    return dflock_server_process(), dflock_server_process()


def fastapi_app(settings, **options):
    app = FastAPI(lifespan=dflock_lifespan(settings))
    app.add_api_route("/ready", dflock_readiness(**options), include_in_schema=False)
    return app


async def get_ready(http, base):
    started = time.monotonic()
    response = await http.get(f"{base}/ready")
    return response, time.monotonic() - started


async def test_ready_until_a_server_is_frozen_then_not_within_the_timeout(serve, http, two_servers):
    first, second = two_servers
    settings = DflockSettings(servers=[first.address, second.address])
    base = serve(fastapi_app(settings, timeout_s=0.5))
    response, _ = await get_ready(http, base)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert [s["server"] for s in body["servers"]] == [first.address, second.address]
    assert response.headers["cache-control"] == "no-store"

    second.freeze()
    response, took = await get_ready(http, base)
    assert response.status_code == 503
    assert took < 0.5 + SLACK_S
    frozen = response.json()["servers"][1]
    assert frozen == {
        "server": second.address,
        "ready": False,
        "error": f"dflockd at {second.address} did not answer within 0.5 s",
    }
    second.thaw()
    assert (await get_ready(http, base))[0].status_code == 200


async def test_not_ready_at_once_when_a_server_is_killed(serve, http, two_servers):
    first, second = two_servers
    base = serve(fastapi_app(DflockSettings(servers=[first.address, second.address])))
    assert (await get_ready(http, base))[0].status_code == 200
    first.kill()
    response, took = await get_ready(http, base)
    assert response.status_code == 503
    assert took < SLACK_S
    assert response.json()["servers"][0]["error"].startswith("cannot connect to dflockd")


async def test_timeout_from_the_settings_on_a_starlette_app(serve, http, dflock_server_process):
    server = dflock_server_process()
    settings = DflockSettings(servers=[server.address], health_timeout_s=0.3)
    app = Starlette(
        lifespan=dflock_lifespan(settings), routes=[Route("/ready", dflock_readiness())]
    )
    base = serve(app)
    server.freeze()
    response, took = await get_ready(http, base)
    assert response.status_code == 503
    assert response.json()["timeout_s"] == 0.3
    assert took < 0.3 + SLACK_S


async def test_settings_that_cannot_work_are_not_ready(serve, http, monkeypatch):
    monkeypatch.setenv("DFLOCK_LEASE_TTL_S", "0")
    app = FastAPI()  # no lifespan: the app's client is built at first use, and cannot be
    app.add_api_route("/ready", dflock_readiness())
    response, _ = await get_ready(http, serve(app))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert "DFLOCK_LEASE_TTL_S" in body["error"]


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout_s"):
        dflock_readiness(timeout_s=0)
